"""How instants and durations read to a person in their own zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def zone_label(instant: datetime, zone: ZoneInfo) -> str:
    """``America/New_York, EST``: the zone named, plus the abbreviation in force then."""
    abbreviation = instant.astimezone(zone).tzname() or ""
    if not abbreviation or abbreviation.lstrip("+-").isdigit() or abbreviation == zone.key:
        return f"{zone.key}, UTC{_offset(instant, zone)}"
    return f"{zone.key}, {abbreviation}"


def _offset(instant: datetime, zone: ZoneInfo) -> str:
    delta = instant.astimezone(zone).utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def long_local(instant: datetime, zone: ZoneInfo) -> str:
    """``Monday 9 March 2026, 10:00``."""
    local = instant.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"


def short_local(instant: datetime, zone: ZoneInfo) -> str:
    """``Mon 9 Mar, 10:00``; for subjects."""
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


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
