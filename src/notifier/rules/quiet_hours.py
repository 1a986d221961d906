"""Quiet hours (contract section 10): when a user's quiet period holds an instant; pure.

A period runs from ``quiet_hours_start`` to ``quiet_hours_end``, local wall-clock times of the
user's zone; it may cross midnight (21:00–07:00), and equal times mean no period. Its ends are
resolved as every local time is (``timemath.zones.local_to_utc``): a time in a spring-forward
gap moves forward by the gap, a time that happens twice counts at its first occurrence. A
local date the zone skipped (Pacific/Apia, 2011-12-30) starts no period.

Only the rule lives here; the recipient policy (``rules.recipient.decide``) holds with it,
and the ledger keeps each hold (``reminders_sent.held_until``) so the period's end finds it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TypeVar

from notifier.timemath.windows import Window
from notifier.timemath.zones import local_date, local_to_utc

ONE_DAY = timedelta(days=1)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class QuietHours:
    """One user's daily quiet period, as local wall-clock times."""

    start: time
    end: time

    @classmethod
    def of(cls, start: time | None, end: time | None) -> QuietHours | None:
        """The period the two settings make; None when either is unset or both are equal
        (no period)."""
        if start is None or end is None or start == end:
            return None
        return cls(start, end)

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start


def period_holding(
    at: datetime, zone: tzinfo, quiet: QuietHours
) -> tuple[datetime, datetime] | None:
    """The quiet period ``[begin, end)`` that holds the instant ``at``, as instants; None when
    ``at`` is outside every period.

    Only a period that starts on the local date of ``at`` or the date before can hold it
    (periods last under a day).
    """
    today = local_date(at, zone)
    for first in (today - ONE_DAY, today):
        found = _period(first, zone, quiet)
        if found is not None and found[0] <= at < found[1]:
            return found
    return None


def quiet_until(at: datetime, zone: tzinfo, quiet: QuietHours | None) -> datetime | None:
    """When the quiet period holding ``at`` ends (the held notification's new due instant);
    None when ``at`` is not quiet."""
    if quiet is None:
        return None
    found = period_holding(at, zone, quiet)
    return found[1] if found is not None else None


def _period(day: date, zone: tzinfo, quiet: QuietHours) -> tuple[datetime, datetime] | None:
    """The period that starts on local ``day``; None on a date the zone skipped."""
    begin = local_to_utc(day, quiet.start, zone)
    if begin is None:
        return None
    last = day + ONE_DAY if quiet.crosses_midnight else day
    end = _first_existing(last, quiet.end, zone)
    return (begin, end) if end > begin else None


def _first_existing(day: date, at: time, zone: tzinfo) -> datetime:
    """``at`` on local ``day``, or on the next date the zone did not skip."""
    for ahead in range(3):
        found = local_to_utc(day + ahead * ONE_DAY, at, zone)
        if found is not None:
            return found
    raise ValueError(f"no local date from {day} on exists in {zone}")  # tzdata has none


def due_in(window: Window, slot_due: datetime, held_until: datetime | None) -> datetime | None:
    """The instant a slot counts as due in a tick owning ``window``, or None if it is not due
    there: the end of the hold it is under when that lies in the window (the period's end is
    its due instant, contract section 10), else its own due instant when that does."""
    if held_until is not None and held_until in window:
        return held_until
    return slot_due if slot_due in window else None


# How far before a tick's window a slot may fall due and still be held into it: a quiet
# period lasts under a day.
HOLD_REACH = ONE_DAY


def before(window: Window) -> Window:
    """The ``HOLD_REACH`` before ``window``: where the slots it may find held into it fell due."""
    return Window(window.start - HOLD_REACH, window.start)


def held_into(
    window: Window, dues: Mapping[K, datetime], zone: tzinfo, quiet: QuietHours | None
) -> dict[K, datetime]:
    """Of slots due before ``window`` (key -> due instant), those a quiet period held into
    it: key -> the period's end, which lies in the window.

    The ledger keeps a hold only where a tick saw the slot during its own window; after an
    outage longer than the catch-up window no tick did, yet the period's end still counts as
    the slot's due instant (contract section 10: held, never dropped), so the rule is
    reckoned from the user's quiet hours themselves.
    """
    if quiet is None:
        return {}
    found = {}
    for key, due in dues.items():
        until = quiet_until(due, zone, quiet)
        if until is not None and until in window:
            found[key] = until
    return found
