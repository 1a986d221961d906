"""Which zone a user lives in, and when a local wall-clock time happens there.

All local-to-UTC conversion happens here and only here (never in SQL): PostgreSQL resolves
ambiguous and missing local times differently from Python, and one rule must hold everywhere.
The rule (contract section 4): a time inside a spring-forward gap moves forward by the gap;
a time that happens twice is taken at its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownZoneError(ValueError):
    """A zone name that the tz database does not know; costs one user, never a tick."""


@lru_cache(maxsize=4096)
def get_zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo: re-reading zone files for every user is the cost to avoid."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownZoneError(f"unknown time zone {name!r}") from exc


def effective_zone_name(user_zone: str | None, workspace_zone: str | None) -> str:
    """The user's zone, else the workspace's, else UTC (contract section 4)."""
    return user_zone or workspace_zone or "UTC"


def local_to_utc(day: date, at: time, zone: tzinfo) -> datetime | None:
    """The instant ``at`` happens on local date ``day``; None when that date has no such day.

    A date can be missing entirely (Pacific/Apia skipped 2011-12-30): then nothing is due.
    """
    first = datetime.combine(day, at, tzinfo=zone).replace(fold=0)
    instant = first.astimezone(UTC)
    back = instant.astimezone(zone)
    if back.replace(tzinfo=None) == first.replace(tzinfo=None):
        return instant
    # A gap: zoneinfo with fold=0 gives the instant computed with the offset *before* the
    # transition, which lands exactly "gap" later on the wall clock: the contract's rule.
    if back.date() != day:
        return None if not _date_exists(day, zone) else instant
    return instant


def _date_exists(day: date, zone: tzinfo) -> bool:
    """Whether any instant of the zone shows local date ``day``."""
    start = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=15)
    for hour in range(0, 55):
        if (start + timedelta(hours=hour)).astimezone(zone).date() == day:
            return True
    return False


def local_date(instant: datetime, zone: tzinfo) -> date:
    """The wall-clock date in ``zone`` at ``instant``."""
    return instant.astimezone(zone).date()


def local_day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime] | None:
    """The instants ``[start, end)`` of local ``day``; None when the zone skipped that date.

    Both ends are the 00:00 of a date resolved by ``local_to_utc``, so a midnight inside a
    gap moves forward like any other local time, and a skipped next date (Apia) hands over
    to the one after it.
    """
    start = local_to_utc(day, time(0), zone)
    if start is None:
        return None
    for ahead in (1, 2):
        end = local_to_utc(day + timedelta(days=ahead), time(0), zone)
        if end is not None:
            return start, end
    return start, start + timedelta(days=1)
