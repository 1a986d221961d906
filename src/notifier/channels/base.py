"""What every channel is to the send pipeline, and the delivery it is handed.

``services.dispatch`` claims each (slot, channel) on its own ledger row, then asks the slot's
channel for an id, renders through it and transmits through it, retrying transient failures
within the claim's lease; ``record`` runs in the transaction that marks the slot ``sent``.
A new channel is one class here beside the others, its templates, and a name in
``rules.kinds.CHANNELS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.delivery.ledger import SlotKey


@dataclass(frozen=True)
class Delivery:
    """One notification to deliver for one (slot, channel), its template context built.

    ``address`` is the checked email address or webhook URL (None for in-app).
    ``after_sent`` runs in the transaction that marks the slot ``sent`` (e.g. setting
    ``task_reminders.sent``), so the two changes land together or not at all.

    ``due_at`` is the instant it fell due, for the kinds sent inside a window after it; a send
    later than ``CATCH_UP_SEND_AFTER_SECONDS`` after it counts as a catch-up send. None for the
    kinds that follow the state of a task instead (``task_due``, ``task_overdue``).
    """

    key: SlotKey
    address: str | None
    context: Mapping[str, object] = field(hash=False)
    expires_at: datetime
    after_sent: Callable[[AsyncConnection], Awaitable[None]] | None = field(
        default=None, hash=False, compare=False
    )
    due_at: datetime | None = field(default=None, compare=False)
    workspace_id: uuid.UUID | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Rendered:
    """A delivery with its rendered payload and its id (Message-ID, webhook-id, row id)."""

    delivery: Delivery
    ident: str
    payload: Any


class Channel(Protocol):
    """One way of delivering (contract section 9).

    ``in_transaction``: the delivery *is* ``record`` (in-app), so a failed ``record`` fails
    the slot instead of leaving it ``sent``.
    """

    name: str
    in_transaction: bool

    def ident(self, key: SlotKey) -> str:
        """The slot's stable id on this channel: a re-send carries the same one."""
        ...

    def render(self, delivery: Delivery, ident: str) -> Any:
        """The payload to transmit; raises on a template error (that slot fails alone)."""
        ...

    async def transmit(self, delivery: Delivery, rendered: Rendered) -> None:
        """One attempt; raises ``SendError`` (transient or permanent)."""
        ...

    async def record(self, conn: AsyncConnection, sent: Sequence[Rendered], now: datetime) -> None:
        """Runs in the transaction that marks ``sent`` a group of this channel's slots.

        Only a channel ``in_transaction`` writes here: a group of the others' slots without
        ``after_sent`` steps is marked in one statement, outside a transaction (``dispatch``).
        """
        ...


@runtime_checkable
class SelfRecording(Protocol):
    """A channel whose delivery is its recorded row (in-app) and that can record a group of
    unclaimed slots ``sent`` in one statement, without the ``pending`` claim first."""

    async def record_unclaimed(
        self, conn: AsyncConnection, group: Sequence[Rendered], now: datetime
    ) -> set[SlotKey] | None:
        """The slots recorded; those already in the ledger are left out (None: not here)."""
        ...
