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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

import structlog

from notifier.channels.addresses import Addresses, NoAddressError, WebhookSetup
from notifier.channels.base import Delivery
from notifier.content.decoding import IDENTITY, Decoder
from notifier.delivery.ledger import Outcome, SlotKey
from notifier.rules.kinds import Kind
from notifier.rules.recipient import Hold, RecipientState, Send, Skip, decide
from notifier.services.row_errors import row_error

log = structlog.get_logger("notifier.plan")
Row = TypeVar("Row")


@dataclass(frozen=True)
class Addressee:
    """One recipient of a slot: the policy's view, the addresses, the channels to try."""

    state: RecipientState
    addresses: Addresses
    channels: tuple[str, ...]


MakeDelivery = Callable[[SlotKey, str | None], Delivery]


@dataclass
class Plan:
    """A batch's deliveries and the outcomes to record instead of sending."""

    deliveries: list[Delivery] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    webhooks: WebhookSetup = field(default_factory=lambda: WebhookSetup(False, False))
    # The host's CONTENT_DECODER: content is built under ``row``, so a value it refuses
    # costs that slot alone.
    decoder: Decoder = IDENTITY

    def skip(self, key: SlotKey, reason: str) -> None:
        self.outcomes.append(Outcome(key, "skipped", reason))

    def fail(self, key: SlotKey, reason: str) -> None:
        self.outcomes.append(Outcome(key, "failed", reason))

    def skip_all(self, key: SlotKey, who: Addressee, reason: str) -> None:
        """``skipped`` on every channel of the recipient."""
        for channel in who.channels:
            self.skip(key.on(channel), reason)

    def fail_all(self, key: SlotKey, who: Addressee, reason: str) -> None:
        """``failed`` on every channel of the recipient."""
        for channel in who.channels:
            self.fail(key.on(channel), reason)

    def decline(self, key: SlotKey, decision: Skip | Hold) -> None:
        """The recipient policy said no: ``skipped`` with its reason, or held: ``pending``
        until the hold's end, when a tick finds it in the ledger and sends it."""
        if isinstance(decision, Skip):
            self.skip(key, decision.reason)
            return
        reason = f"held for quiet hours until {decision.until.isoformat()}"
        self.outcomes.append(Outcome(key, "pending", reason, decision.until))

    def offer(
        self,
        key: SlotKey,
        who: Addressee,
        kind: Kind,
        at: datetime,
        make: MakeDelivery,
        *,
        deadline: datetime | None = None,
    ) -> None:
        """The slot on each of the recipient's channels, sent at ``at``: a delivery, or an
        outcome saying why not (the recipient policy's skip or hold, no address for the
        channel, a bad address), each channel on its own.

        While one channel is held, the others' deliveries leave the host's state alone (no
        ``after_sent``: ``task_reminders.sent``, a task's ``overdue``), so the task kinds'
        scans still see the slot when the held channel falls due.
        """
        decisions = [(c, decide(who.state, kind, c, at, deadline)) for c in who.channels]
        held = any(isinstance(decision, Hold) for _, decision in decisions)
        for channel, decision in decisions:
            channel_key = key.on(channel)
            if not isinstance(decision, Send):
                self.decline(channel_key, decision)
                continue
            with self.row(channel_key):
                self._deliver(channel_key, who.addresses, make, held)

    def _deliver(self, key: SlotKey, addresses: Addresses, make: MakeDelivery, held: bool) -> None:
        try:
            address = addresses.for_channel(key.channel, self.webhooks)
        except NoAddressError as exc:
            self.skip(key, str(exc))
            return
        delivery = make(key, address)
        if held and delivery.after_sent is not None:
            delivery = replace(delivery, after_sent=None)
        self.deliveries.append(delivery)

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
