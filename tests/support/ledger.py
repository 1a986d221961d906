"""Reading ``reminders_sent`` back in tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.schema import reminders_sent


async def ledger_rows(engine: AsyncEngine, kind: str | None = None) -> list[Any]:
    stmt = select(reminders_sent).order_by(reminders_sent.c.slot)
    if kind:
        stmt = stmt.where(reminders_sent.c.kind == kind)
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).mappings().all())


async def statuses(engine: AsyncEngine) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in await ledger_rows(engine):
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts
