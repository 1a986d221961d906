"""Whether a recipient gets a notification, decided once for every kind and channel; pure.

Every kind's planning, the send-time re-check, ``notifier upcoming`` and ``notifier preview``
ask ``decide``; nothing else states "may we notify this user". Selection queries may leave
out users this policy would refuse (the once-a-day kinds' partial indexes do), but only as a
superset of what it sends: the fresh row's answer here decides.

One behaviour for a recipient who may not be notified, whatever the kind: the slot a tick
planned is recorded ``skipped`` with the reason, so an operator can read why nothing went,
and the task kinds' scans stop seeing it. ``Hold`` (deliver later, at ``until``) is the
shape quiet hours take; ``in_app`` is silent and never held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.rules.kinds import Kind

SILENT_CHANNELS = frozenset({"in_app"})


@dataclass(frozen=True)
class Send:
    """Deliver now."""


@dataclass(frozen=True)
class Skip:
    """Do not deliver this slot on this channel; ``reason`` goes to ``last_error``."""

    reason: str


@dataclass(frozen=True)
class Hold:
    """Deliver at ``until`` instead (quiet hours), never dropped."""

    until: datetime


Decision = Send | Skip | Hold
SEND = Send()


@dataclass(frozen=True)
class RecipientState:
    """What the policy reads of one recipient, from the fresh row, defaults filled in.

    ``notifications_on`` is ``notification_settings.email_enabled``, the contract's master
    switch for every channel; ``kind_on`` is the kind's own switch (``Kind.switch``);
    ``quiet_until`` the end of a quiet period the instant falls in, if any.
    """

    is_active: bool
    notifications_on: bool
    kind_on: bool
    quiet_until: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RecipientState:
        """From a fresh row's ``is_active``, ``email_enabled`` and ``kind_enabled`` columns
        (every kind's query selects them so, defaults filled in)."""
        return cls(bool(row["is_active"]), bool(row["email_enabled"]), bool(row["kind_enabled"]))


def decide(state: RecipientState, kind: Kind, channel: str, at: datetime) -> Decision:
    """Send, skip (why) or hold (until when) ``kind`` to this recipient on ``channel`` at ``at``."""
    refusal = refusal_of(state, kind)
    if refusal is not None:
        return Skip(refusal)
    quiet = state.quiet_until
    if quiet is not None and at < quiet and channel not in SILENT_CHANNELS:
        return Hold(quiet)
    return SEND


def refusal_of(state: RecipientState, kind: Kind) -> str | None:
    """Why nothing of ``kind`` reaches this recipient on any channel, or None."""
    refusal = user_refusal(state)
    if refusal is None and not state.kind_on:
        return f"{kind.label} are off"
    return refusal


def user_refusal(state: RecipientState) -> str | None:
    """Why nothing of any kind reaches this recipient, or None (the kind's switch aside)."""
    if not state.is_active:
        return "user is inactive"
    if not state.notifications_on:
        return "notifications are off (email_enabled)"
    return None
