"""Which zone a user lives in, and when a local wall-clock time happens there.

All local-to-UTC conversion happens here and only here (never in SQL): PostgreSQL resolves
ambiguous and missing local times differently from Python, and one rule must hold everywhere.
The rule (contract section 4): a time inside a spring-forward gap moves forward by the gap;
a time that happens twice is taken at its first occurrence.
"""

from __future__ import annotations

import errno
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_NOT_A_ZONE_FILE = (errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.ENOENT)


class UnknownZoneError(ValueError):
    """A zone name that the tz database does not know; costs one user, never a tick."""


@lru_cache(maxsize=4096)
def get_zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo: re-reading zone files for every user is the cost to avoid."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownZoneError(f"unknown time zone {name!r}") from exc
    except OSError as exc:  # a name the file system cannot even look up
        if exc.errno not in _NOT_A_ZONE_FILE:
            raise
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


def in_zone(instant: datetime, zone: tzinfo) -> datetime:
    """``instant`` on the wall clock of ``zone``; in UTC where the zone's view would leave
    Python's calendar (years 1 to 9999).

    Hosts store "min date" and "max date" sentinels (``0001-01-01``, ``9999-12-31 23:59``,
    ``±infinity``, read as Python's ``datetime.min`` and ``max``): west or east of UTC their
    local view is year 0 or 10000, and ``astimezone`` raises ``OverflowError``. Such a row is
    still shown, and never costs a tick (contract section 8).
    """
    try:
        return instant.astimezone(zone)
    except OverflowError:
        return instant.astimezone(UTC)


def shifted(instant: datetime, delta: timedelta) -> datetime:
    """``instant + delta``, held at the ends of Python's calendar instead of raising."""
    try:
        return instant + delta
    except OverflowError:
        edge = datetime.max if delta > timedelta(0) else datetime.min
        return edge.replace(tzinfo=instant.tzinfo)


class OutOfCalendarError(ValueError):
    """An instant a person cannot be shown in their zone: a host's sentinel date."""


def check_in_calendar(instant: datetime | None, zone: tzinfo, column: str) -> None:
    """Raises for an instant at Python's calendar edge, or whose local view leaves it.

    ``db.types`` reads anything beyond years 1 to 9999 (``±infinity``, BC, year 10000 and
    later) as ``datetime.min`` or ``max``; those, and instants such as
    ``9999-12-31 23:59+00`` seen from a zone east of UTC, are bad data for a notification:
    its row is recorded ``failed`` (contract section 8) instead of sending a date nobody set.
    """
    if instant is None:
        return
    edge = instant.replace(tzinfo=None) in (datetime.min, datetime.max)
    if edge or in_zone(instant, zone).tzinfo is not zone:
        raise OutOfCalendarError(f"{column} is outside the calendar")
