"""Ledger situations of a local-time slot and what ``next_send.slot_states`` must say of each,
on whichever database the engine serves (the PostgreSQL and SQLite tests share them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.schema import reminders_sent
from notifier.rules.local_time_slots import NEVER, NOT_COMPUTED
from notifier.services import next_send

KIND = "daily_digest"
SLOT = datetime(2026, 3, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
OPEN_NOT_SETTLED = (True, False)  # a slot without rows

# Each situation: the slot's rows (status, lease from now, held until, channel), and its
# (open, settled) by the rules of ``slot_filters``.
CASES: dict[str, tuple[list[tuple[str, timedelta | None, bool, str]], tuple[bool, bool]]] = {
    "no row": ([], OPEN_NOT_SETTLED),
    "sent": ([("sent", None, False, "email")], (False, True)),
    "failed": ([("failed", None, False, "email")], (False, True)),
    "claimed, lease live": ([("pending", HOUR, False, "email")], (False, False)),
    "claim released": ([("pending", None, False, "email")], OPEN_NOT_SETTLED),
    "claim's lease run out": ([("pending", -HOUR, False, "email")], OPEN_NOT_SETTLED),
    "held, lease live": ([("pending", HOUR, True, "email")], (False, True)),
    "sent, one channel released": (
        [("sent", None, False, "email"), ("pending", None, False, "in_app")],
        OPEN_NOT_SETTLED,
    ),
}


async def given_cases(engine: AsyncEngine) -> dict[str, uuid.UUID]:
    """One user per situation, its rows in the ledger; the users by situation."""
    users = {name: uuid.uuid4() for name in CASES}
    now = datetime.now(UTC)
    rows = [
        _row(users[name], status, lease, held, channel, now)
        for name, (found, _) in CASES.items()
        for status, lease, held, channel in found
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(reminders_sent), rows)
    return users


def _row(
    user: uuid.UUID,
    status: str,
    lease: timedelta | None,
    held: bool,
    channel: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "kind": KIND,
        "entity_id": user,
        "user_id": user,
        "slot": SLOT,
        "status": status,
        "attempts": 1,
        "created_at": now - HOUR,
        "lease_until": None if lease is None else now + lease,
        "held_until": now + 2 * HOUR if held else None,
        "channel": channel,
    }


async def states_by_case(engine: AsyncEngine) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``slot_states`` returns per situation (absent: left out), and what ``settle``
    makes of it: (selected, moved on) per situation."""
    users = await given_cases(engine)
    async with engine.connect() as conn:
        got = await next_send.slot_states(conn, KIND, [(user, SLOT) for user in users.values()])
    returned = {name: got[(user, SLOT)] for name, user in users.items() if (user, SLOT) in got}
    found = next_send.Review(
        owed={user: [SLOT] for user in users.values()},
        reached={user: [SLOT] for user in users.values()},
        later={user: (_copy_row(user), NEVER) for user in users.values()},
    )
    selected = set(next_send.settle(found, got))
    moved = {row.user_id for row, _ in found.moves}
    return returned, {name: (user in selected, user in moved) for name, user in users.items()}


def _copy_row(user: uuid.UUID) -> next_send.CopyRow:
    return next_send.CopyRow(user, "UTC", time(7), (), NOT_COMPUTED, None)


def expected() -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the situations that differ from the default come back; an open slot is
    selected, a settled one (and not open) moves the row on, any other is left alone."""
    states = {name: state for name, (_, state) in CASES.items()}
    returned = {name: state for name, state in states.items() if state != OPEN_NOT_SETTLED}
    return returned, {name: (o, s and not o) for name, (o, s) in states.items()}
