"""SQL conditions on the ledger that keep candidate scans to slots still worth a look.

A tick selects what is due; whether a slot is already done is the ledger's business. These
conditions let a selection skip slots another tick finished, or is sending right now, so a
backlog is not re-read and re-claimed by every tick of its window. The claim (``ledger.claim``)
still decides alone who sends: these filters only save work, never grant it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_

from notifier.db.schema import reminders_sent
from notifier.delivery.ledger import FINAL_STATUSES


def slot_finished(kind: str, entity: Any, user: Any, slot: Any) -> ColumnElement[bool]:
    """Every channel of the slot is final (``sent``, ``failed`` or ``skipped``): it has a
    final row, and no ``pending`` one."""
    r = reminders_sent.c
    final = _slot_row(kind, entity, user, slot, r.status.in_(FINAL_STATUSES))
    return and_(final, ~_slot_row(kind, entity, user, slot, r.status == "pending"))


def slot_unfinished(kind: str, entity: Any, user: Any, slot: Any) -> ColumnElement[bool]:
    """Worth a look: no row on any channel is final or held under a live lease, or one
    channel's row can be taken again (by the database's clock: leases are wall-clock time).

    A released claim, or one whose worker died, is retried, also when another channel of the
    slot is already sent; a slot a batch is still sending is not selected again meanwhile.
    The channels of a slot are claimed together, so a slot has rows for all or none of them.
    """
    r = reminders_sent.c
    taken = or_(r.status.in_(FINAL_STATUSES), r.lease_until > func.now())
    retryable = and_(
        r.status == "pending", or_(r.lease_until.is_(None), r.lease_until <= func.now())
    )
    return or_(
        ~_slot_row(kind, entity, user, slot, taken),
        _slot_row(kind, entity, user, slot, retryable),
    )


# The same rules as SQL text, for the local-time kinds' hand-written statements, where the
# ledger row is ``r`` (CURRENT_TIMESTAMP: the same in both dialects).
TAKEN_SQL = (
    "(r.status IN (" + ", ".join(f"'{status}'" for status in FINAL_STATUSES) + ")"
    " OR r.lease_until > CURRENT_TIMESTAMP)"
)
RETRYABLE_SQL = (
    "(r.status = 'pending' AND (r.lease_until IS NULL OR r.lease_until <= CURRENT_TIMESTAMP))"
)


def _slot_row(
    kind: str, entity: Any, user: Any, slot: Any, condition: ColumnElement[bool]
) -> ColumnElement[bool]:
    r = reminders_sent.c
    return exists().where(
        r.kind == kind, r.entity_id == entity, r.user_id == user, r.slot == slot, condition
    )


# The slot of user ``{user}`` and instant ``{slot}`` (SQL expressions of the caller's row) in
# hand-written statements, for the kind bound as ``:kind``: entity and user are both the user.
_SLOT_ROW = """SELECT 1 FROM {ledger} AS r
        WHERE r.kind = :kind AND r.entity_id = {user} AND r.user_id = {user}
          AND r.slot = {slot}"""
# A held row under its live lease: the hold's end brings it back (``services.held_slots``).
HELD_LIVE_SQL = "(r.held_until IS NOT NULL AND r.lease_until > CURRENT_TIMESTAMP)"


def open_slot_sql(ledger: str, user: str, slot: str) -> str:
    """``slot_unfinished`` as SQL text: no row taken, or one row to take again."""
    row = _SLOT_ROW.format(ledger=ledger, user=user, slot=slot)
    return f"(NOT EXISTS ({row} AND {TAKEN_SQL}) OR EXISTS ({row} AND {RETRYABLE_SQL}))"


def slot_state_sql(ledger: str, user: str, slot: str) -> str:
    """The slot's state as a number, from all its rows at once: 1 if it is open
    (``slot_unfinished``), plus 2 if it is settled (every row final, or held until a later
    instant: a hold's end selects the slot again by itself).

    One correlated aggregate per slot: PostgreSQL runs it as an index probe of the slot's
    rows, where ``EXISTS`` conditions were planned as hashed scans of the whole ledger.
    """
    flag = "max(CASE WHEN {} THEN 1 ELSE 0 END)"
    taken, retryable = flag.format(TAKEN_SQL), flag.format(RETRYABLE_SQL)
    unsettled = flag.format(f"r.status = 'pending' AND NOT {HELD_LIVE_SQL}")
    return (
        f"(SELECT CASE WHEN count(*) = 0 THEN 1 ELSE"
        f" (CASE WHEN {taken} = 0 OR {retryable} = 1 THEN 1 ELSE 0 END)"
        f" + (CASE WHEN {unsettled} = 0 THEN 2 ELSE 0 END) END"
        f" FROM {ledger} AS r WHERE r.kind = :kind AND r.entity_id = {user}"
        f" AND r.user_id = {user} AND r.slot = {slot})"
    )
