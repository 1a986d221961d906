"""When a once-a-day local-time notification (digest, notes reminder) is due, and for whom.

Two questions, both pure:

* ``due_slots``: for one user (zone, local time, weekend flag), which local dates have their
  due instant inside a tick's window ``(now - catch_up, now]``. The local date is the slot
  (contract section 3), so a user whose zone or time changes after today's email never
  qualifies for a second one: the second attempt meets the same ledger row.
* ``selection_plan``: for every zone in use, which ``(local date, local-time range)`` pairs can
  hold a due time in the window. The database matches these ranges against an index on
  ``(zone, time)``, so a tick reads only users whose time falls in range instead of scanning
  everybody. The ranges are a superset (they may include a user an hour off on a DST day);
  ``due_slots`` on the fresh row decides exactly. Local-to-UTC conversion stays in
  ``timemath.zones``; nothing here or in SQL uses ``AT TIME ZONE``.

Why the ranges are complete: ``local_to_utc(day, t)`` is ``day+t - o`` where ``o`` is the
fold-0 UTC offset of that wall time (the offset before a gap, the first one in a fold), which
is one of the offsets in force during local ``day``. If the result lies in ``(s, e]`` then
``day+t`` lies in ``(s + o, e + o]``, inside ``(s + min o, e + max o]`` for that day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from notifier.timemath.windows import Window
from notifier.timemath.zones import UnknownZoneError, get_zone, local_to_utc

# ISO weekdays (Monday 1 ... Sunday 7) on which a user's local-time kind is due.
Weekdays = frozenset[int]
EVERY_DAY: Weekdays = frozenset(range(1, 8))
WORKDAYS: Weekdays = frozenset(range(1, 6))
ONE_DAY = timedelta(days=1)
ONE_MICROSECOND = timedelta(microseconds=1)
# Wall times sampled per local day to find the offsets in force: every half hour and the
# day's last microsecond. An offset lasting under half an hour would be missed; tzdata has none.
_SAMPLE_TIMES: tuple[time, ...] = (
    *(time(h, m) for h in range(24) for m in (0, 30)),
    time.max,
)


@dataclass(frozen=True, order=True)
class DueSlot:
    """One (local date, due instant) pair of one user."""

    day: date
    due: datetime


@dataclass(frozen=True)
class LocalRange:
    """Local wall times ``lo <= t <= hi`` on ``day`` (both bounds inclusive)."""

    day: date
    lo: time
    hi: time


@dataclass(frozen=True)
class PlanEntry:
    """One range that applies to every zone listed."""

    range: LocalRange
    zones: tuple[str, ...]


def slot_instant(day: date) -> datetime:
    """The ledger's ``slot`` for a local date: that date's 00:00 UTC (contract section 3)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def weekdays_skipping_weekends(skip: bool) -> Weekdays:
    """``digest_skip_weekends`` as the weekdays it leaves."""
    return WORKDAYS if skip else EVERY_DAY


class BadWeekdaysError(ValueError):
    """A weekday setting that names no weekdays as the contract says (contract section 10)."""


def digest_weekdays(skip_weekends: bool, digest_days: object) -> Weekdays:
    """The digest's weekdays: ``digest_days`` (a JSON array of ISO weekdays) when it is set,
    and ``digest_skip_weekends`` is then ignored; raises ``BadWeekdaysError`` for anything
    but such an array (an empty one names no day: no digest)."""
    if digest_days is None:
        return weekdays_skipping_weekends(bool(skip_weekends))
    if not isinstance(digest_days, list) or not all(
        type(day) is int and 1 <= day <= 7 for day in digest_days
    ):
        raise BadWeekdaysError("digest_days is not a JSON array of ISO weekdays 1-7")
    return frozenset(digest_days)


def copy_digest_weekdays(skip_weekends: object, days_set: object) -> Weekdays:
    """The digest's weekdays as the copy knows them: every day when ``digest_days`` is set,
    since the copy holds only that it is (a superset; the fresh row decides)."""
    return EVERY_DAY if days_set else weekdays_skipping_weekends(bool(skip_weekends))


def one_weekday(day: object) -> Weekdays:
    """``weekly_report_day`` (ISO) as a set; a value outside 1..7 names no day."""
    return frozenset({day}) & EVERY_DAY if isinstance(day, int) else frozenset()


def candidate_days(window: Window) -> list[date]:
    """Local dates that can have a due instant in ``window``, in any zone.

    UTC offsets lie within a day of UTC, so a due instant's local date is at most one day
    from its UTC date.
    """
    first = window.start.astimezone(UTC).date() - ONE_DAY
    last = window.end.astimezone(UTC).date() + ONE_DAY
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@lru_cache(maxsize=65536)
def due_instant(day: date, at: time, zone: tzinfo, days: Weekdays) -> datetime | None:
    """The instant the notification of local ``day`` is due; None on a skipped or missing day.

    Cached: a user owed for several ticks (a batch still sending, or held) has the same
    dates asked whenever their fresh row is checked (``due_slots``). ``due_run`` asks it
    uncached and keeps its runs itself.
    """
    if day.isoweekday() not in days:
        return None
    return local_to_utc(day, at, zone)


def due_slots(zone: tzinfo, at: time, days: Weekdays, window: Window) -> list[DueSlot]:
    """Every local date whose due instant lies in ``window``, oldest first."""
    slots = []
    for day in candidate_days(window):
        due = due_instant(day, at, zone, days)
        if due is not None and due in window:
            slots.append(DueSlot(day, due))
    return slots


# The copy's next-send instants (``services.next_send``): "not computed yet" (every new or
# changed schedule row starts there, so the next tick computes it) and "no due day at all".
NOT_COMPUTED = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = datetime(9999, 12, 31, tzinfo=UTC)
# Local dates looked at for the next due instant: from the day before ``after``'s local date,
# a weekly schedule's next one is at most 8 dates on.
_LOOK_AHEAD = 10


def next_due(zone: tzinfo, at: time, days: Weekdays, after: datetime) -> datetime:
    """The first due instant later than ``after`` (``NEVER`` when ``days`` names no day).

    Due instants grow with the local date (an offset never changes by a day or more without
    the date being skipped, which ``due_instant`` gives as None), so the first found from the
    day before ``after``'s local date is the earliest; the instant of two days before lies
    about a day before ``after``.
    """
    day = after.astimezone(zone).date() - ONE_DAY
    for _ in range(_LOOK_AHEAD):
        due = due_instant(day, at, zone, days)
        if due is not None and due > after:
            return due
        day += ONE_DAY
    return NEVER


def slots_and_next(
    zone: tzinfo, at: time, days: Weekdays, window: Window
) -> tuple[list[DueSlot], datetime]:
    """``due_slots`` of ``window`` and ``next_due`` after it, each local date's instant
    computed once (a tick computes this for every row it reads: a third of the work of the
    two apart), in runs of dates cached by their first (``due_run``). Dates run from the day
    before the window's first local date, as in ``next_due``; instants grow with the date, so
    the first past the window is the next."""
    start = window.start.astimezone(zone).date() - ONE_DAY
    last = start + timedelta(days=_LOOK_AHEAD + (window.end - window.start).days + 1)
    slots: list[DueSlot] = []
    while start <= last:
        run, start = due_run(zone, at, days, start)
        for day, due in run:
            if day > last:
                break
            if due > window.end:
                return slots, due
            if due > window.start:
                slots.append(DueSlot(day, due))
    return slots, NEVER


# A cached run (``due_run``) holds up to _RUN due dates among the _SPAN dates from its first:
# a daily kind's slot and next instant fit in one (three dates), so do a weekly one's (ten).
_RUN = 3
_SPAN = 10


@lru_cache(maxsize=32768)
def due_run(
    zone: tzinfo, at: time, days: Weekdays, first: date
) -> tuple[tuple[tuple[date, datetime], ...], date]:
    """The due dates from ``first`` on, with their instants, up to ``_RUN`` of them within
    ``_SPAN`` dates, and the date after the last one looked at (where the next run starts).

    Cached by its first date, not by the window: the ticks of one local date all start their
    walk there, so a row read tick after tick (a batch still sending, 1,000 users just made
    due) costs one lookup instead of a cached ``due_instant`` call a date. A run computed
    afresh (a first tick over every row) asks ``due_instant`` uncached: its own cache would
    only churn. Plain tuples of dates and instants: the collector need not visit them.
    """
    found: list[tuple[date, datetime]] = []
    day = first
    while len(found) < _RUN and day < first + _SPAN * ONE_DAY:
        due = due_instant.__wrapped__(day, at, zone, days)
        if due is not None:
            found.append((day, due))
        day += ONE_DAY
    return tuple(found), day


def plan_zone(name: str) -> tzinfo:
    """The zone used to plan selection; an unknown name plans as UTC.

    Its users are still selected (at their time read as UTC) so that the tick records their
    failure by id instead of ignoring them for ever.
    """
    try:
        return get_zone(name)
    except UnknownZoneError:
        return UTC


@lru_cache(maxsize=65536)
def day_offsets(zone_name: str, day: date) -> tuple[timedelta, timedelta]:
    """The smallest and largest fold-0 UTC offsets of wall times on local ``day``."""
    zone = plan_zone(zone_name)
    offsets = [
        datetime.combine(day, at, tzinfo=zone).utcoffset() or timedelta(0) for at in _SAMPLE_TIMES
    ]
    return min(offsets), max(offsets)


def local_range(
    day: date, window: Window, offsets: tuple[timedelta, timedelta]
) -> LocalRange | None:
    """The wall times on ``day`` that ``window`` can reach under ``offsets``; None if none."""
    start, end = naive_utc(window)
    return clip_to_day(day, start + offsets[0], end + offsets[1])


def naive_utc(window: Window) -> tuple[datetime, datetime]:
    """The window's bounds as naive UTC datetimes, so offsets add to them directly."""
    return (
        window.start.astimezone(UTC).replace(tzinfo=None),
        window.end.astimezone(UTC).replace(tzinfo=None),
    )


def clip_to_day(day: date, start: datetime, end: datetime) -> LocalRange | None:
    """Wall times in ``(start, end]`` that fall on ``day``, as an inclusive range."""
    day_start = datetime.combine(day, time(0))
    lo = max(start + ONE_MICROSECOND, day_start)
    hi = min(end, day_start + ONE_DAY - ONE_MICROSECOND)
    if lo > hi:
        return None
    return LocalRange(day, lo.time(), hi.time())


def selection_plan(zone_names: Iterable[str], window: Window) -> list[PlanEntry]:
    """Ranges to select for the window, with the zones each applies to.

    Zones sharing a day's offsets share its range, so ~400 zones become a few dozen entries;
    the grouping depends on the dates only, so ticks of the same day reuse it. The window's
    bounds are converted once: per group only two additions and a clip remain (a tick runs
    this for ~100 groups).
    """
    days = tuple(candidate_days(window))
    start, end = naive_utc(window)
    plan = []
    for (day, low, high), zones in zone_groups(tuple(sorted(set(zone_names))), days):
        found = clip_to_day(day, start + low, end + high)
        if found is not None:
            plan.append(PlanEntry(found, zones))
    return plan


OffsetGroup = tuple[tuple[date, timedelta, timedelta], tuple[str, ...]]


@lru_cache(maxsize=64)
def zone_groups(zone_names: tuple[str, ...], days: tuple[date, ...]) -> tuple[OffsetGroup, ...]:
    """The zones by (date, smallest offset, largest offset) on each of ``days``."""
    groups: dict[tuple[date, timedelta, timedelta], list[str]] = defaultdict(list)
    for name in zone_names:
        for day in days:
            groups[(day, *day_offsets(name, day))].append(name)
    return tuple((key, tuple(zones)) for key, zones in groups.items())
