"""Which instants the summary emails cover, in the user's own local dates; pure.

Contract section 3 speaks of local dates: the digest's tasks "due on that local date", the
weekly report's "7 local days before" and "7 local days ahead". Each is a span of instants
between two local midnights of the user's zone, never a UTC day: in Pacific/Kiritimati
(UTC+14) Monday starts on Sunday 10:00 UTC. A midnight that falls in a DST gap moves forward
like any local time; a skipped date (Pacific/Apia 2011-12-30) starts at the next one.

"Overdue" is the task kinds' rule: open and due before the instant the email is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from notifier.timemath.zones import local_to_utc

WEEK = 7


def day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of local ``day``, or of the next date the zone did not skip."""
    for ahead in range(3):
        start = local_to_utc(day + timedelta(days=ahead), time(0), zone)
        if start is not None:
            return start
    raise ValueError(f"no local date from {day} on exists in {zone}")  # tzdata has none


@dataclass(frozen=True)
class Spans:
    """The spans ``[start, end)`` one summary email of local ``day``, due at ``due``, covers."""

    day: tuple[datetime, datetime]
    week_before: tuple[datetime, datetime]
    week_ahead: tuple[datetime, datetime]
    due: datetime


def spans(day: date, due: datetime, zone: tzinfo) -> Spans:
    """The local date, the 7 local dates before it, and it with the 6 after it."""
    start = day_start(day, zone)
    return Spans(
        day=(start, day_start(day + timedelta(days=1), zone)),
        week_before=(day_start(day - timedelta(days=WEEK), zone), start),
        week_ahead=(start, day_start(day + timedelta(days=WEEK), zone)),
        due=due,
    )
