"""The ``reminders_sent`` ledger: the database claim that makes every slot single.

Protocol (contract sections 4 and 8): a slot is claimed by inserting its unique row as
``pending`` with a lease, committed before SMTP starts; after the server accepts, the row
becomes ``sent``. A pending row whose lease ran out (its worker died) can be claimed again;
``sent``, ``failed`` and ``skipped`` rows are final. Two workers racing on one slot meet at
the unique constraint or at the lease check of a single-row UPDATE, and only one wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import TextClause, and_, bindparam, or_, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.db.engine import own_schema, qualified
from notifier.db.row_ids import time_ordered_id
from notifier.db.schema import reminders_sent as rs
from notifier.db.upsert import insert_ignoring_conflicts, upsert

_KEY_COLUMNS = ("kind", "entity_id", "user_id", "slot", "channel")
_KEY = (rs.c.kind, rs.c.entity_id, rs.c.user_id, rs.c.slot, rs.c.channel)


def _values(key: SlotKey) -> tuple[str, uuid.UUID, uuid.UUID, datetime, str]:
    return key.kind, key.entity_id, key.user_id, key.slot, key.channel


# A slot with one of these is done for good; a ``pending`` one may still be claimed again.
FINAL_STATUSES = ("sent", "failed", "skipped")


@dataclass(frozen=True)
class SlotKey:
    """The unique key of one notification slot on one channel (contract sections 2 and 9)."""

    kind: str
    entity_id: uuid.UUID
    user_id: uuid.UUID
    slot: datetime
    channel: str = "email"

    def on(self, channel: str) -> SlotKey:
        """The same slot on ``channel`` (``dataclasses.replace`` cost a tenth of planning)."""
        return SlotKey(self.kind, self.entity_id, self.user_id, self.slot, channel)


@dataclass(frozen=True)
class Outcome:
    """A state to record for a slot that is not being sent now: final (``skipped``,
    ``failed``), or ``pending`` and held until ``held_until`` (quiet hours)."""

    key: SlotKey
    status: str
    reason: str | None = None
    held_until: datetime | None = None


def row_values(key: SlotKey, status: str, now: datetime, **extra: object) -> dict[str, object]:
    """A new ledger row of ``key`` (its own id, no attempts yet)."""
    return {
        "id": time_ordered_id(now),
        "kind": key.kind,
        "entity_id": key.entity_id,
        "user_id": key.user_id,
        "slot": key.slot,
        "channel": key.channel,
        "status": status,
        "attempts": 0,
        "created_at": now,
        **extra,
    }


def _order(key: SlotKey) -> tuple[str, bytes, bytes, datetime, str]:
    """The order the unique index sorts keys in, near enough to lock them all alike."""
    return key.kind, key.entity_id.bytes, key.user_id.bytes, key.slot, key.channel


def _key(row: Sequence[object]) -> SlotKey:
    kind, entity_id, user_id, slot, channel = row
    assert isinstance(kind, str) and isinstance(slot, datetime) and isinstance(channel, str)
    assert isinstance(entity_id, uuid.UUID) and isinstance(user_id, uuid.UUID)
    return SlotKey(kind, entity_id, user_id, slot, channel)


# The slots a caller claimed, each with its row's id: the ``sent`` mark finds rows by id.
Claimed = dict[SlotKey, uuid.UUID]


def _claimed(rows: Iterable[Sequence[object]]) -> Claimed:
    """``RETURNING id, <key columns>`` rows as the keys won and their row ids."""
    won: Claimed = {}
    for row in rows:
        row_id = row[0]
        assert isinstance(row_id, uuid.UUID)
        won[_key(row[1:])] = row_id
    return won


async def claim(
    conn: AsyncConnection, keys: Sequence[SlotKey], now: datetime, lease: timedelta
) -> Claimed:
    """Claims what it can of ``keys``; returns the keys this caller now owns, with row ids.

    The rows go in sorted by key. Two batches claiming overlapping slots in different orders
    (a tick re-selecting what an earlier tick's batch still holds) each waited for a row the
    other had inserted: PostgreSQL broke the deadlock by failing one batch. In one order the
    second simply waits for the first, then finds its rows taken.
    """
    if not keys:
        return {}
    lease_until = now + lease
    ordered = sorted(keys, key=_order)
    if conn.dialect.name == "postgresql":
        won = await _claim_pg(conn, ordered, now, lease_until)
    else:
        stmt = insert_ignoring_conflicts(conn.dialect.name, rs, _KEY_COLUMNS)
        rows = [row_values(k, "pending", now, lease_until=lease_until) for k in ordered]
        won = _claimed((await conn.execute(stmt.returning(rs.c.id, *_KEY), rows)).all())
    rest = [k for k in keys if k not in won]
    if rest:
        won |= await _take_over_expired(conn, rest, now, lease_until)
    return won


# PostgreSQL: the claims as arrays, one row per element in the arrays' order (the key order
# ``claim`` sorted them in). SQLAlchemy's multi-row ``VALUES`` bound ten parameters per row,
# 5,000 a batch of 500, each built and sent by the worker; PostgreSQL's CPU for the claim
# itself barely moved (backend /proc CPU, ``claim`` in batches of 500, six alternations:
# 13.7-19.5 µs a row before, 13.7-17.4 after): its cost is the row and its five index entries.
_CLAIM_PG = """
INSERT INTO {reminders_sent}
    (id, kind, entity_id, user_id, slot, channel, status, attempts, created_at, lease_until)
SELECT c.id, c.kind, c.entity_id, c.user_id, c.slot, c.channel, 'pending', 0,
       CAST(:now AS timestamptz), CAST(:lease_until AS timestamptz)
FROM unnest(CAST(:ids AS uuid[]), CAST(:kinds AS text[]), CAST(:entity_ids AS uuid[]),
            CAST(:user_ids AS uuid[]), CAST(:slots AS timestamptz[]), CAST(:channels AS text[]))
     WITH ORDINALITY AS c(id, kind, entity_id, user_id, slot, channel, n)
ORDER BY c.n
ON CONFLICT (kind, entity_id, user_id, slot, channel) DO NOTHING
RETURNING id, kind, entity_id, user_id, slot, channel
"""

# PostgreSQL: the take-over as the keys' arrays joined to the unique key (``_MARK_SENT_PG``
# says why ``status || ''``); a tuple ``IN`` list bound five parameters per key.
_TAKE_OVER_PG = """
UPDATE {reminders_sent} AS r SET lease_until = CAST(:lease_until AS timestamptz)
FROM unnest(CAST(:kinds AS text[]), CAST(:entity_ids AS uuid[]), CAST(:user_ids AS uuid[]),
            CAST(:slots AS timestamptz[]), CAST(:channels AS text[]))
     AS k(kind, entity_id, user_id, slot, channel)
WHERE r.kind = k.kind AND r.entity_id = k.entity_id AND r.user_id = k.user_id
  AND r.slot = k.slot AND r.channel = k.channel AND (r.status || '') = 'pending'
  AND (r.lease_until IS NULL OR r.lease_until <= CAST(:now AS timestamptz))
RETURNING r.id, r.kind, r.entity_id, r.user_id, r.slot, r.channel
"""


@cache
def _pg_statement(template: str, schema: str | None) -> TextClause:
    """A PostgreSQL statement of this module naming the worker's schema."""
    return text(template.format(reminders_sent=qualified(schema, "reminders_sent")))


def _key_arrays(keys: Sequence[SlotKey]) -> dict[str, object]:
    """The keys as one array per column, for the statements that ``unnest`` them."""
    return {
        "kinds": [k.kind for k in keys],
        "entity_ids": [k.entity_id for k in keys],
        "user_ids": [k.user_id for k in keys],
        "slots": [k.slot for k in keys],
        "channels": [k.channel for k in keys],
    }


async def _claim_pg(
    conn: AsyncConnection, keys: Sequence[SlotKey], now: datetime, lease_until: datetime
) -> Claimed:
    """The new ``pending`` rows of ``keys`` (in this order), one statement; the keys won."""
    ids = [time_ordered_id(now) for _ in keys]
    params = {"ids": ids, "now": now, "lease_until": lease_until, **_key_arrays(keys)}
    result = await conn.execute(_pg_statement(_CLAIM_PG, own_schema(conn)), params)
    return _claimed(result.all())


async def _take_over_expired(
    conn: AsyncConnection, keys: Sequence[SlotKey], now: datetime, lease_until: datetime
) -> Claimed:
    """Re-claims pending rows whose lease has run out (a crashed or released claim)."""
    if conn.dialect.name == "postgresql":
        params = {"now": now, "lease_until": lease_until, **_key_arrays(keys)}
        result = await conn.execute(_pg_statement(_TAKE_OVER_PG, own_schema(conn)), params)
        return _claimed(result.all())
    stmt = (
        update(rs)
        .where(
            tuple_(*_KEY).in_([_values(k) for k in keys]),
            rs.c.status == "pending",
            or_(rs.c.lease_until.is_(None), rs.c.lease_until <= now),
        )
        .values(lease_until=lease_until)
        .returning(rs.c.id, *_KEY)
    )
    return _claimed((await conn.execute(stmt)).all())


async def record(conn: AsyncConnection, outcomes: Iterable[Outcome], now: datetime) -> int:
    """Writes final ``skipped``/``failed`` rows for slots never claimed, keeping existing
    rows but ended holds, and the holds (``hold``)."""
    final: list[Outcome] = []
    held: list[Outcome] = []
    for o in outcomes:
        (held if o.held_until is not None else final).append(o)
    rows = [row_values(o.key, o.status, now, last_error=o.reason) for o in final]
    if rows:
        # A held slot whose hold has ended may end otherwise (its user switched it off, a
        # smaller offset goes instead): that replaces the hold. Every other row stays.
        ended_hold = and_(
            rs.c.status == "pending",
            rs.c.held_until.is_not(None),
            or_(rs.c.lease_until.is_(None), rs.c.lease_until <= now),
        )
        columns = ("status", "last_error")
        await conn.execute(upsert(conn.dialect.name, rs, _KEY_COLUMNS, columns, ended_hold), rows)
    await hold(conn, held, now)
    return len(rows) + len(held)


async def hold(conn: AsyncConnection, holds: Sequence[Outcome], now: datetime) -> None:
    """Each held slot's row: ``pending``, its lease and ``held_until`` at the hold's end.

    The lease keeps every tick from selecting it again before then; ``held_until`` is how a
    tick whose window holds the end finds it once the slot's own window has passed. A row
    already there is moved to the new end only while nobody else owns it (no live claim, or
    an earlier hold): a final row stays final, a send in flight keeps its lease.
    """
    if not holds:
        return
    rows = [
        row_values(
            o.key,
            "pending",
            now,
            last_error=o.reason,
            lease_until=o.held_until,
            held_until=o.held_until,
        )
        for o in sorted({o.key: o for o in holds}.values(), key=lambda o: _order(o.key))
    ]
    free = or_(rs.c.lease_until.is_(None), rs.c.lease_until <= now, rs.c.held_until.is_not(None))
    stmt = upsert(
        conn.dialect.name,
        rs,
        _KEY_COLUMNS,
        ("lease_until", "held_until", "last_error"),
        where=and_(rs.c.status == "pending", free),
    )
    await conn.execute(stmt, rows)


def _match(key: SlotKey) -> object:
    return and_(
        rs.c.kind == key.kind,
        rs.c.entity_id == key.entity_id,
        rs.c.user_id == key.user_id,
        rs.c.slot == key.slot,
        rs.c.channel == key.channel,
        rs.c.status == "pending",
    )


@dataclass(frozen=True)
class SentMark:
    """One accepted message to record: its slot and the row its claim returned, the
    ``Message-ID`` and the SMTP attempts used."""

    key: SlotKey
    row_id: uuid.UUID
    message_id: str
    attempts: int


async def mark_sent_many(conn: AsyncConnection, marks: Sequence[SentMark], now: datetime) -> None:
    """``mark_sent`` for many slots in one statement, so recording costs a statement per
    group of accepted sends, not a transaction per email."""
    if not marks:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(_pg_statement(_MARK_SENT_PG, own_schema(conn)), _mark_arrays(marks, now))
        return
    stmt = (
        update(rs)
        .where(rs.c.id == bindparam("b_id"), rs.c.status == "pending")
        .values(
            status="sent",
            sent_at=now,
            message_id=bindparam("b_message_id"),
            attempts=rs.c.attempts + bindparam("b_attempts"),
            lease_until=None,
        )
    )
    await conn.execute(stmt, [_mark_params(m) for m in marks])


# PostgreSQL: the group as arrays joined to the rows' ids, one statement for any group size
# (a batched UPDATE ran the executor once per row). By id rather than by the five-column
# key: three arrays instead of eight, and one narrow primary-key probe a row (backend CPU,
# groups of 25 as a loaded worker commits them: ~32 µs a row by key, ~26 by id). A row keeps
# its id while it is pending (a take-over or a hold updates it in place), so the id names the
# claim exactly. ``status || ''`` keeps the partial index of pending rows out of the plan: its
# statistics say "almost none pending" while a busy worker has thousands, and a plan that
# scanned it cost ~2.5 ms a row instead of ~20 µs.
_MARK_SENT_PG = """
UPDATE {reminders_sent} AS r
SET status = 'sent', sent_at = :now, message_id = m.message_id,
    attempts = r.attempts + m.attempts, lease_until = NULL
FROM unnest(CAST(:ids AS uuid[]), CAST(:message_ids AS text[]), CAST(:attempts AS integer[]))
     AS m(id, message_id, attempts)
WHERE r.id = m.id AND (r.status || '') = 'pending'
"""


def _mark_arrays(marks: Sequence[SentMark], now: datetime) -> dict[str, object]:
    return {
        "now": now,
        "ids": [m.row_id for m in marks],
        "message_ids": [m.message_id for m in marks],
        "attempts": [m.attempts for m in marks],
    }


def _mark_params(mark: SentMark) -> dict[str, object]:
    return {"b_id": mark.row_id, "b_message_id": mark.message_id, "b_attempts": mark.attempts}


async def mark_unsent(
    conn: AsyncConnection, key: SlotKey, *, status: str, reason: str, attempts: int
) -> None:
    """``failed`` is final; ``pending`` releases the claim so a later tick may try again."""
    await conn.execute(
        update(rs)
        .where(_match(key))  # type: ignore[arg-type]
        .values(
            status=status,
            last_error=reason[:500],
            attempts=rs.c.attempts + attempts,
            lease_until=None,
        )
    )


async def note_error(conn: AsyncConnection, key: SlotKey, reason: str) -> None:
    """Writes ``last_error`` on a slot's row whatever its status (a step after ``sent``)."""
    await conn.execute(
        update(rs)
        .where(
            rs.c.kind == key.kind,
            rs.c.entity_id == key.entity_id,
            rs.c.user_id == key.user_id,
            rs.c.slot == key.slot,
            rs.c.channel == key.channel,
        )
        .values(last_error=reason[:500])
    )


async def release(conn: AsyncConnection, keys: Sequence[SlotKey]) -> None:
    """Gives up claims still ``pending`` (a stopping worker), so the next tick takes them now."""
    if not keys:
        return
    await conn.execute(
        update(rs)
        .where(
            tuple_(*_KEY).in_([_values(k) for k in keys]),
            rs.c.status == "pending",
        )
        .values(lease_until=None)
    )
