"""Whether a recipient gets a notification, decided once for every kind and channel; pure.

Every kind's planning, the send-time re-check, ``notifier upcoming`` and ``notifier preview``
ask ``decide``; nothing else states "may we notify this user". Selection queries may leave
out users this policy would refuse (the once-a-day kinds' partial indexes do), but only as a
superset of what it sends: the fresh row's answer here decides.

One behaviour for a recipient who may not be notified, whatever the kind: the slot a tick
planned is recorded ``skipped`` with the reason, so an operator can read why nothing went,
and the task kinds' scans stop seeing it. ``Hold`` (deliver later, at ``until``) is what
quiet hours decide (contract section 10): the instant of sending, not the slot's due instant,
is what must not fall in a period, so a late send (a catch-up after an outage) that would
land inside one is held too. ``in_app`` is silent and never held; a reminder of a deadline
(an appointment's start, a task's due date) that the hold would carry to or past it goes now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from notifier.rules.kinds import Kind
from notifier.rules.quiet_hours import QuietHours, quiet_until
from notifier.timemath.zones import UnknownZoneError, effective_zone_name, get_zone

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
    ``quiet`` the user's quiet hours (None: no period) in their ``zone``.
    """

    is_active: bool
    notifications_on: bool
    kind_on: bool
    quiet: QuietHours | None = None
    zone: tzinfo = UTC

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RecipientState:
        """From a fresh row's ``is_active``, ``email_enabled`` and ``kind_enabled`` columns
        (every kind's query selects them so, defaults filled in), and its ``quiet_start``,
        ``quiet_end``, ``user_zone`` and ``workspace_zone`` where the query has them."""
        quiet = QuietHours.of(row.get("quiet_start"), row.get("quiet_end"))
        zone = _zone(row) if quiet is not None else UTC
        on = bool(row["is_active"]), bool(row["email_enabled"]), bool(row["kind_enabled"])
        return cls(*on, quiet, zone)


def _zone(row: Mapping[str, Any]) -> tzinfo:
    """The user's zone; an unknown name times the period in UTC (the send itself then fails
    by id where the content needs the zone)."""
    try:
        return get_zone(effective_zone_name(row.get("user_zone"), row.get("workspace_zone")))
    except UnknownZoneError:
        return UTC


def decide(
    state: RecipientState,
    kind: Kind,
    channel: str,
    at: datetime,
    deadline: datetime | None = None,
) -> Decision:
    """Send, skip (why) or hold (until when) ``kind`` to this recipient on ``channel``, sent at
    ``at``; ``deadline`` is the instant past which a hold makes the notification pointless."""
    refusal = refusal_of(state, kind)
    if refusal is not None:
        return Skip(refusal)
    if state.quiet is None or channel in SILENT_CHANNELS:
        return SEND
    until = quiet_until(at, state.zone, state.quiet)
    if until is None or (deadline is not None and until >= deadline):
        return SEND
    return Hold(until)


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
