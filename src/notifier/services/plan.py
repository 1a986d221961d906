"""What one batch will do, and the guard that makes a bad row cost that row alone.

Every kind plans its batch the same way: each fresh row becomes deliveries (sent by
``dispatch``) or final outcomes (recorded without sending). Planning runs under ``Plan.row``,
so an exception raised by one row's data, whatever it is, records that slot ``failed`` with
the reason in ``last_error`` (``dispatch`` logs it by id) and the batch goes on (contract
section 8). An exception that escapes a tick is a bug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from notifier.delivery.ledger import Outcome, SlotKey
from notifier.rules.recipient import Hold, Skip
from notifier.services.dispatch import Delivery
from notifier.services.row_errors import row_error

log = structlog.get_logger("notifier.plan")
Row = TypeVar("Row")


@dataclass
class Plan:
    """A batch's deliveries and the outcomes to record instead of sending."""

    deliveries: list[Delivery] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def skip(self, key: SlotKey, reason: str) -> None:
        self.outcomes.append(Outcome(key, "skipped", reason))

    def fail(self, key: SlotKey, reason: str) -> None:
        self.outcomes.append(Outcome(key, "failed", reason))

    def decline(self, key: SlotKey, decision: Skip | Hold) -> None:
        """The recipient policy said no: ``skipped`` with its reason, or held, which records
        nothing (the slot stays due, and a tick at the hold's end sends it)."""
        if isinstance(decision, Skip):
            self.skip(key, decision.reason)

    @contextmanager
    def row(self, key: SlotKey) -> Iterator[None]:
        """Plans one slot: any exception inside records the slot ``failed``, and no more."""
        try:
            yield
        except Exception as exc:
            self.fail(key, row_error(exc))


def plan_each(
    rows: Iterable[Row], plan_one: Callable[[Row], None], row_id: Callable[[Row], object]
) -> None:
    """Calls ``plan_one`` for every row; one that raises before it has a slot is logged by id.

    Without a slot there is no ledger row to record, so the row is left for the next tick,
    where the same fault is logged again: loud, and never the tick's end.
    """
    for row in rows:
        try:
            plan_one(row)
        except Exception as exc:
            log.error("row_not_planned", id=str(row_id(row)), error=type(exc).__name__)
