"""How instants and durations read to a person in their own zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.timemath.zones import in_zone


def zone_label(instant: datetime, zone: ZoneInfo) -> str:
    """``America/New_York, EST``: the zone named, plus the abbreviation in force then."""
    local = in_zone(instant, zone)
    if local.tzinfo is not zone:  # at the calendar's edge the instant is shown in UTC
        return "UTC"
    abbreviation = local.tzname() or ""
    if not abbreviation or abbreviation.lstrip("+-").isdigit() or abbreviation == zone.key:
        return f"{zone.key}, UTC{_offset(instant, zone)}"
    return f"{zone.key}, {abbreviation}"


def _offset(instant: datetime, zone: ZoneInfo) -> str:
    delta = in_zone(instant, zone).utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# English names whatever the process locale; a tuple lookup is also several times cheaper
# than ``strftime`` (the two formatters below cost ~6% of a busy worker with it).
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def long_local(instant: datetime, zone: ZoneInfo) -> str:
    """``Monday 9 March 2026, 10:00``."""
    local = in_zone(instant, zone)
    day, month = DAY_NAMES[local.weekday()], MONTH_NAMES[local.month - 1]
    return f"{day} {local.day} {month} {local.year}, {local.hour:02d}:{local.minute:02d}"


def short_local(instant: datetime, zone: ZoneInfo) -> str:
    """``Mon 9 Mar, 10:00``; for subjects."""
    local = in_zone(instant, zone)
    day, month = DAY_NAMES[local.weekday()][:3], MONTH_NAMES[local.month - 1][:3]
    return f"{day} {local.day} {month}, {local.hour:02d}:{local.minute:02d}"


def duration_phrase(delta: timedelta) -> str:
    """``in 1 hour``, ``in 24 hours``, ``in 1 hour 30 minutes``; rounded to whole minutes."""
    minutes = max(0, round(delta.total_seconds() / 60))
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest or not hours:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return "in " + " ".join(parts)
