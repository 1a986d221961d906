"""Slots held for quiet hours whose hold ends in a tick's window, read back from the ledger.

A held slot (contract section 10) is its ``pending`` row with ``held_until`` at the end of the
quiet period (``delivery.ledger.hold``). The windowed kinds (appointment reminders, the
local-time kinds) select what falls due in ``(now - catch_up, now]`` by their own rules, which
no longer see a slot whose due instant left the window during the hold: these two reads add
the held ones, the first to the tick's selection, the second to each batch's rows, where the
hold's end is the slot's due instant. Both probe the partial index of migration 0008, which
holds only held rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import ColumnElement, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.db.engine import host_schema, own_schema, qualified
from notifier.db.id_lists import among
from notifier.db.schema import notification_settings, reminders_sent
from notifier.db.types import UtcDateTime
from notifier.timemath.windows import Window

# entity -> slot -> the hold's end
HeldSlots = Mapping[uuid.UUID, Mapping[datetime, datetime]]


# Held rows of the kind whose hold ends in the window ``(:start, :end]``; the ledger is ``r``.
ENDING_SQL = (
    "r.kind = :kind AND r.status = 'pending' AND r.held_until > :start AND r.held_until <= :end"
)


def ending_sql(kind: str, start: str, end: str) -> str:
    """``ENDING_SQL`` with the driver's parameters (``$n``) in place of its names."""
    return ENDING_SQL.replace(":kind", kind).replace(":start", start).replace(":end", end)


def _ending_in(kind: str, window: Window) -> ColumnElement[bool]:
    """``ENDING_SQL`` as a Core condition over ``reminders_sent`` (named ``r`` in it)."""
    condition = text(ENDING_SQL.replace("r.", "reminders_sent.")).bindparams(
        bindparam("kind", kind),
        bindparam("start", window.start, type_=UtcDateTime()),
        bindparam("end", window.end, type_=UtcDateTime()),
    )
    return condition  # type: ignore[return-value]


async def held_entity_ids(conn: AsyncConnection, kind: str, window: Window) -> list[uuid.UUID]:
    """Entities of ``kind`` with a slot whose hold ends in ``window``.

    PostgreSQL: the statement as text straight to the driver, as every tick asks it (through
    SQLAlchemy it cost ~0.4 ms, four times what the index probe does).
    """
    if conn.dialect.name == "postgresql":
        sql = held_ids_sql(own_schema(conn))
        result = await conn.exec_driver_sql(sql, (kind, window.start, window.end))
        return [row[0] for row in result]
    stmt = select(reminders_sent.c.entity_id).distinct().where(_ending_in(kind, window))
    return list((await conn.execute(stmt)).scalars())


@cache
def held_ids_sql(schema: str | None) -> str:
    """``held_entity_ids``' statement: ``$1`` the kind, ``$2`` and ``$3`` the window."""
    condition = ending_sql("$1", "$2", "$3")
    ledger = qualified(schema, "reminders_sent")
    return f"SELECT DISTINCT r.entity_id FROM {ledger} AS r WHERE {condition}"


async def held_slots(
    conn: AsyncConnection, kind: str, ids: Sequence[uuid.UUID], window: Window
) -> HeldSlots:
    """For the batch's entities, each slot whose hold ends in ``window`` (any channel)."""
    r = reminders_sent.c
    stmt = select(r.entity_id, r.slot, r.held_until).where(
        _ending_in(kind, window), among(r.entity_id, ids, conn.dialect.name)
    )
    found: dict[uuid.UUID, dict[datetime, datetime]] = defaultdict(dict)
    for entity_id, slot, until in (await conn.execute(stmt)).all():
        found[entity_id][slot] = max(until, found[entity_id].get(slot, until))
    return found


def merged(first: Sequence[uuid.UUID], second: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Both selections, each id once, in the first's order then the second's."""
    return list(dict.fromkeys([*first, *second]))


async def with_quiet_hours(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Those of ``ids`` who have a quiet period (both ends set and unequal).

    The slots no tick saw during their own window (an outage longer than the catch-up
    window) are past for everyone else; a quiet period may still hold them into a later
    window (``rules.quiet_hours.held_into``), and the batch's fresh row decides.
    """
    if conn.dialect.name == "postgresql":
        sql = _quiet_users_sql(host_schema(conn))
        return [row[0] for row in await conn.exec_driver_sql(sql, (list(ids),))]
    n = notification_settings.c
    stmt = select(n.user_id).where(among(n.user_id, ids, conn.dialect.name), *quiet_set())
    return list((await conn.execute(stmt)).scalars())


@cache
def _quiet_users_sql(schema: str | None) -> str:
    """``with_quiet_hours`` as text straight to the driver: asyncpg encodes the id array
    itself, where SQLAlchemy's array type processed each id in Python (a look back after an
    outage may send tens of thousands)."""
    settings = qualified(schema, "notification_settings")
    return (
        f"SELECT n.user_id FROM {settings} AS n WHERE n.user_id = ANY($1::uuid[]) AND {QUIET_SQL}"
    )


# ``quiet_set`` as text over ``notification_settings`` named ``n``.
QUIET_SQL = (
    "n.quiet_hours_start IS NOT NULL AND n.quiet_hours_end IS NOT NULL"
    " AND n.quiet_hours_start <> n.quiet_hours_end"
)


def quiet_set() -> list[ColumnElement[bool]]:
    """A ``notification_settings`` row with a quiet period (``rules.quiet_hours.QuietHours.of``
    is the same rule in Python)."""
    n = notification_settings.c
    return [
        n.quiet_hours_start.is_not(None),
        n.quiet_hours_end.is_not(None),
        n.quiet_hours_start != n.quiet_hours_end,
    ]
