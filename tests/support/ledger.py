"""Reading ``reminders_sent`` back in tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.schema import reminders_sent
from notifier.delivery.ledger import SlotKey


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


async def insert_claim(engine: AsyncEngine, key: SlotKey, lease_until: datetime) -> None:
    """A ``pending`` row as another worker's claim leaves it (that worker may have died)."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(reminders_sent).values(
                id=uuid.uuid4(),
                kind=key.kind,
                entity_id=key.entity_id,
                user_id=key.user_id,
                slot=key.slot,
                status="pending",
                attempts=0,
                lease_until=lease_until,
                created_at=key.slot,
            )
        )
