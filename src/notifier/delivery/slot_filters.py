"""SQL conditions on the ledger that keep candidate scans to slots still worth a look.

A tick selects what is due; whether a slot is already done is the ledger's business. These
conditions let a selection skip slots another tick finished, or is sending right now, so a
backlog is not re-read and re-claimed by every tick of its window. The claim (``ledger.claim``)
still decides alone who sends: these filters only save work, never grant it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_

from notifier.db.schema import reminders_sent
from notifier.delivery.ledger import FINAL_STATUSES


def slot_finished(kind: str, entity: Any, user: Any, slot: Any) -> ColumnElement[bool]:
    """The slot has a final ledger row (``sent``, ``failed`` or ``skipped``)."""
    return _slot_row(kind, entity, user, slot, reminders_sent.c.status.in_(FINAL_STATUSES))


def slot_unfinished(kind: str, entity: Any, user: Any, slot: Any) -> ColumnElement[bool]:
    """Neither final nor held under a live lease (by the database's clock: leases are
    wall-clock time). A released claim, or one whose worker died, is retried; a slot a batch
    is still sending is not selected again by every tick meanwhile."""
    r = reminders_sent.c
    taken = or_(r.status.in_(FINAL_STATUSES), r.lease_until > func.now())
    return ~_slot_row(kind, entity, user, slot, taken)


# The same "taken" rule as SQL text, for the local-time kinds' hand-written statements, where
# the ledger row is ``r`` (CURRENT_TIMESTAMP: the same in both dialects).
TAKEN_SQL = (
    "(r.status IN (" + ", ".join(f"'{status}'" for status in FINAL_STATUSES) + ")"
    " OR r.lease_until > CURRENT_TIMESTAMP)"
)


def _slot_row(
    kind: str, entity: Any, user: Any, slot: Any, condition: ColumnElement[bool]
) -> ColumnElement[bool]:
    r = reminders_sent.c
    return exists().where(
        r.kind == kind, r.entity_id == entity, r.user_id == user, r.slot == slot, condition
    )
