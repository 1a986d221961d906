"""Rows for the tz-database reset tests: computed instants, and the record of a release."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.schema import local_time_schedules, local_time_tz_database
from tests.support.local_time_data import LocalTimeData

COMPUTED = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)  # an instant a tick could have moved to
NEXT = (
    local_time_schedules.c.digest_next,
    local_time_schedules.c.notes_reminder_next,
    local_time_schedules.c.weekly_report_next,
)


async def users_with_computed_instants(engine: AsyncEngine, count: int) -> list[uuid.UUID]:
    """``count`` users whose three instants a tick has computed (``COMPUTED``)."""
    people = LocalTimeData(engine)
    users = [await people.digest_user("Europe/Paris") for _ in range(count)]
    async with engine.begin() as conn:
        await conn.execute(update(local_time_schedules).values({c.name: COMPUTED for c in NEXT}))
    return users


async def instants(engine: AsyncEngine) -> set[datetime]:
    """Every instant of every row, as one set."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(*NEXT))).all()
    return {instant for row in rows for instant in row}


async def record(engine: AsyncEngine, release: str, finished: bool = True) -> None:
    """The record as a worker of ``release`` left it (finished or stopped half-way)."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(local_time_tz_database).values(
                id=1,
                release=release,
                source="bundled",
                recorded_at=func.now(),
                reset_finished_at=func.now() if finished else None,
            )
        )


async def recorded(engine: AsyncEngine) -> tuple[str, bool] | None:
    """The recorded release and whether its reset finished; None without a record."""
    t = local_time_tz_database.c
    async with engine.connect() as conn:
        row = (await conn.execute(select(t.release, t.reset_finished_at))).first()
    return None if row is None else (row[0], row[1] is not None)
