"""Property tests of the once-a-day rules over every zone and local dates 2000-2037.

Random instants almost never land in a gap or a fold, so half of the drawn cases are local
times within three hours of one of the zone's offset changes (found to the second): the
gaps, folds and skipped dates the rules exist for. Each test was checked to fail when the
rule it guards is broken (fold=1 instead of 0, a range bound off by the DST offset, a window
closed at its start, a skipped date resolved anyway).
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import available_timezones

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from notifier.db.schema import local_time_schedules
from notifier.rules.local_time_slots import (
    EVERY_DAY,
    NEVER,
    NOT_COMPUTED,
    WORKDAYS,
    Weekdays,
    due_instant,
    due_slots,
    next_due,
    selection_plan,
    slots_and_next,
)
from notifier.rules.summary_spans import day_start
from notifier.services.next_send import CopyRow, CopySchedule, _instants, review, settle
from notifier.timemath.windows import Window, catch_up_window
from notifier.timemath.zones import get_zone

ZONES = sorted(available_timezones())
_COPY = local_time_schedules.c
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
FIRST, LAST = date(2000, 1, 1), date(2037, 12, 31)
# The weekdays a local-time kind is due on: every day (notes), workdays (a digest skipping
# weekends), one weekday (a weekly report).
WEEKDAY_SETS = st.sampled_from([EVERY_DAY, WORKDAYS]) | st.integers(1, 7).map(
    lambda day: frozenset({day})
)
FAST = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(deadline=None, max_examples=20, suppress_health_check=[HealthCheck.too_slow])


def offset_at(instant: datetime, tz: tzinfo) -> timedelta:
    """The UTC offset in force at an instant (``tz.utcoffset`` would read it as wall time)."""
    return instant.astimezone(tz).utcoffset() or timedelta(0)


@lru_cache(maxsize=8192)
def changes(zone: str, year: int) -> tuple[datetime, ...]:
    """The instants of ``year`` at which the zone's UTC offset changes, to the second."""
    tz = get_zone(zone)
    found = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        after = day + timedelta(days=1)
        if offset_at(day, tz) != offset_at(after, tz):
            low, high = day, after  # offset(low) differs from offset(high): bisect
            while high - low > SECOND:
                mid = low + (high - low) / 2
                same = offset_at(mid, tz) == offset_at(low, tz)
                low, high = (mid, high) if same else (low, mid)
            found.append(high)
        day = after
    return tuple(found)


@st.composite
def local_moments(draw: st.DrawFn) -> tuple[str, date, time, datetime]:
    """A zone, a local date and time, and an instant near them (for placing ticks)."""
    zone = draw(st.sampled_from(ZONES))
    tz = get_zone(zone)
    year = draw(st.integers(FIRST.year, LAST.year))
    near: bool = draw(st.booleans())
    moments = changes(zone, year)
    if near and moments:
        change = draw(st.sampled_from(moments))
        # Wall clock just before the change, then up to 3 h either way: inside gaps and folds.
        wall = (change - SECOND).astimezone(tz).replace(tzinfo=None) + SECOND
        wall += draw(st.integers(-180, 180)) * MINUTE
        anchor = change
    else:
        day = draw(st.dates(FIRST, LAST))
        wall = datetime.combine(day, draw(local_times))
        anchor = datetime.combine(day, time(12), tzinfo=UTC)
    wall = wall.replace(second=draw(st.sampled_from([0, 0, 30])))
    return zone, wall.date(), wall.time(), anchor


local_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))


def shown_dates(day: date, tz: tzinfo) -> set[date]:
    """Local dates the zone shows, sampled every 10 minutes around ``day`` (an oracle)."""
    start = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=16)
    return {(start + i * 10 * MINUTE).astimezone(tz).date() for i in range(6 * 60)}


def jump_over(wanted: datetime, zone: str) -> datetime:
    """The offset change whose forward jump skipped the wall time ``wanted``."""
    tz = get_zone(zone)
    for year in (wanted.year - 1, wanted.year, wanted.year + 1):
        for change in changes(zone, year):
            if wall(change - SECOND, tz) + SECOND <= wanted < wall(change, tz):
                return change
    raise AssertionError(f"{wanted} is not shown in {zone} and no change skipped it")


def wall(instant: datetime, tz: tzinfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


@FAST
@given(local_moments(), WEEKDAY_SETS, st.integers(1, 180))
def test_each_local_date_has_exactly_one_due_instant_or_none(
    moment: tuple[str, date, time, datetime], days: Weekdays, width_minutes: int
) -> None:
    zone, day, at, _ = moment
    tz = get_zone(zone)
    due = due_instant(day, at, tz, days)
    if day.isoweekday() not in days:
        assert due is None
        return
    if due is None:
        assert day not in shown_dates(day, tz)
        return
    wanted = datetime.combine(day, at)
    if wall(due, tz) == wanted:
        # The wall time exists: the first instant that shows it, never a later repeat.
        assert all(wall(due - k * MINUTE, tz) != wanted for k in range(1, 26 * 60))
    else:
        # A gap: the change that jumped over the wall time; moved forward by the jump's length.
        change = jump_over(wanted, zone)
        before = offset_at(change - SECOND, tz)
        assert due == (wanted - before).replace(tzinfo=UTC)
        assert wall(due, tz) == wanted + offset_at(change, tz) - before
    # Windows that partition time report it exactly once, in the window that contains it.
    width = width_minutes * MINUTE
    edges = [due - 3 * width + k * width + SECOND * (width_minutes % 7) for k in range(7)]
    reports = [
        start < due <= end
        for start, end in itertools.pairwise(edges)
        for slot in due_slots(tz, at, days, Window(start, end))
        if slot.day == day
    ]
    assert reports == [True]


@FAST
@given(local_moments(), st.integers(0, 179), st.integers(1, 180))
def test_the_selection_ranges_contain_every_due_time(
    moment: tuple[str, date, time, datetime], late_minutes: int, catch_up_minutes: int
) -> None:
    zone, day, at, _ = moment
    due = due_instant(day, at, get_zone(zone), EVERY_DAY)
    if due is None or late_minutes >= catch_up_minutes:
        return
    window = catch_up_window(due + late_minutes * MINUTE, catch_up_minutes * MINUTE)
    assert any(
        e.range.day == day and e.range.lo <= at <= e.range.hi and zone in e.zones
        for e in selection_plan([zone], window)
    )


def simulate(
    tz: tzinfo, at: time, skip: Weekdays, ticks: Iterator[datetime], catch_up: timedelta
) -> dict[date, list[datetime]]:
    """Runs ticks as the service does: the ledger lets each date through once."""
    sends: dict[date, list[datetime]] = {}
    ledger: set[date] = set()
    for now in ticks:
        for slot in due_slots(tz, at, skip, catch_up_window(now, catch_up)):
            if slot.day not in ledger:
                ledger.add(slot.day)
                sends.setdefault(slot.day, []).append(now)
    return sends


def expected_dates(
    tz: tzinfo, at: time, skip: Weekdays, start: datetime, end: datetime
) -> dict[date, datetime]:
    """Every local date whose due instant lies in ``(start, end]``, by the one-day rule."""
    found = {}
    day = start.date() - timedelta(days=2)
    while day <= end.date() + timedelta(days=2):
        due = due_instant(day, at, tz, skip)
        if due is not None and start < due <= end:
            found[day] = due
        day += timedelta(days=1)
    return found


def check_each_date_once(
    tz: tzinfo, at: time, skip: Weekdays, ticks: list[datetime], catch_up: timedelta
) -> None:
    sends = simulate(tz, at, skip, iter(ticks), catch_up)
    assert set(expected_dates(tz, at, skip, ticks[0], ticks[-1])) <= set(sends)
    for day, times in sends.items():
        due = due_instant(day, at, tz, skip)
        assert due is not None and len(times) == 1
        assert due <= times[0] < due + catch_up


@st.composite
def tick_starts(draw: st.DrawFn) -> tuple[str, time, datetime]:
    """A zone, a local time and a first tick placing the zone's change inside 48 hours."""
    zone, _, at, anchor = draw(local_moments())
    return zone, at, anchor - draw(st.integers(0, 47 * 60)) * MINUTE


@SLOW
@given(tick_starts(), WEEKDAY_SETS)
def test_ticks_every_minute_for_48_hours_send_each_date_once(
    start: tuple[str, time, datetime], skip: Weekdays
) -> None:
    zone, at, first = start
    ticks = [first + k * MINUTE for k in range(48 * 60 + 1)]
    check_each_date_once(get_zone(zone), at, skip, ticks, timedelta(minutes=60))


@SLOW
@given(tick_starts(), WEEKDAY_SETS, st.integers(10, 180), st.integers(0, 2**32))
def test_ticks_at_random_intervals_within_the_catch_up_send_each_date_once(
    start: tuple[str, time, datetime], skip: Weekdays, catch_up_minutes: int, seed: int
) -> None:
    zone, at, first = start
    rnd = random.Random(seed)
    ticks = [first]
    while ticks[-1] < first + timedelta(hours=48):
        ticks.append(ticks[-1] + timedelta(seconds=rnd.randint(1, catch_up_minutes * 60 - 1)))
    check_each_date_once(get_zone(zone), at, skip, ticks, catch_up_minutes * MINUTE)


@FAST
@given(
    st.sampled_from(ZONES),
    st.dates(FIRST, LAST),
    st.integers(1, 7),
    st.times(),
    st.integers(1, 180),
)
def test_over_any_zone_and_any_week_exactly_one_weekly_report_is_due(
    zone: str, first: date, weekday: int, at: time, width_minutes: int
) -> None:
    """Windows that partition the instants of 7 consecutive local dates (any zone, any week,
    any time of day, DST or skipped dates inside) make exactly one report due, on the chosen
    weekday, unless the zone skipped that very date."""
    tz = get_zone(zone)
    start = day_start(first, tz)
    end = day_start(first + timedelta(days=7), tz) + 3 * HOUR  # a gap may push the last day's
    width = width_minutes * MINUTE
    count = (end - start) // width + 2
    edges = [start - SECOND + k * width for k in range(count)]
    week = [first + timedelta(days=k) for k in range(7)]
    due = [
        slot.day
        for lo, hi in itertools.pairwise(edges)
        for slot in due_slots(tz, at, frozenset({weekday}), Window(lo, hi))
        if slot.day in week
    ]
    [chosen] = [day for day in week if day.isoweekday() == weekday]
    assert due == ([chosen] if chosen in shown_dates(chosen, tz) else [])


def through_next_sends(
    zone: str, at: time, days: Weekdays, ticks: list[datetime], catch_up: timedelta
) -> dict[date, list[datetime]]:
    """Runs ticks as ``services.next_send`` does: a row is read only once its instant has
    come, slots already in the ledger are settled, and a row with nothing open moves on."""
    schedule = CopySchedule("k", _COPY.digest_next, _COPY.digest_time, (), lambda: days, ())
    row = CopyRow(uuid.UUID(int=1), zone, at, (), NOT_COMPUTED, None)
    sends: dict[date, list[datetime]] = {}
    ledger: set[datetime] = set()
    for now in ticks:
        if row.next > now:
            continue
        found = review([row], schedule, catch_up_window(now, catch_up))
        states = {pair: (pair[1] not in ledger, pair[1] in ledger) for pair in found.pairs()}
        # The batch sends the open slots of the tick's own window; the ledger is asked about
        # those of its reach too (they decide whether the row moves on).
        for slot in found.owed.get(row.user_id, []):
            if states[(row.user_id, slot)][0]:
                ledger.add(slot)
                sends.setdefault(slot.date(), []).append(now)
        settle(found, states)
        for moved, new in found.moves:
            row = replace(moved, next=new)
    return sends


@SLOW
@given(local_moments(), WEEKDAY_SETS, st.sampled_from([5, 15, 60]), st.integers(1, 180))
def test_reading_rows_from_their_next_instant_sends_what_reading_every_tick_sends(
    moment: tuple[str, date, time, datetime],
    days: Weekdays,
    tick_minutes: int,
    catch_up_minutes: int,
) -> None:
    zone, _, at, anchor = moment
    tz = get_zone(zone)
    step, catch_up = tick_minutes * MINUTE, catch_up_minutes * MINUTE
    first = anchor - timedelta(days=4) + SECOND * 7
    ticks = [first + i * step for i in range(int(timedelta(days=9) / step))]
    every_tick = simulate(tz, at, days, iter(ticks), catch_up)
    assert through_next_sends(zone, at, days, ticks, catch_up) == every_tick


@FAST
@given(local_moments(), WEEKDAY_SETS, st.integers(-3000, 3000))
def test_no_due_instant_lies_between_an_instant_and_its_next_due(
    moment: tuple[str, date, time, datetime], days: Weekdays, shift_minutes: int
) -> None:
    zone, _, at, anchor = moment
    tz = get_zone(zone)
    after = anchor + shift_minutes * MINUTE
    found = next_due(tz, at, days, after)
    assert found > after
    assert not due_slots(tz, at, days, Window(after, found - SECOND / 1000))
    assert due_slots(tz, at, days, Window(found - SECOND, found))


@FAST
@given(local_moments(), WEEKDAY_SETS, st.integers(-3000, 3000), st.integers(1, 1440))
def test_slots_and_next_are_due_slots_and_next_due_computed_once(
    moment: tuple[str, date, time, datetime],
    days: Weekdays,
    shift_minutes: int,
    catch_up_minutes: int,
) -> None:
    zone, _, at, anchor = moment
    tz = get_zone(zone)
    window = catch_up_window(anchor + shift_minutes * MINUTE, catch_up_minutes * MINUTE)
    expected = (due_slots(tz, at, days, window), next_due(tz, at, days, window.end))
    assert slots_and_next(tz, at, days, window) == expected


@FAST
@given(local_moments(), st.sampled_from([1, 7, 47]), st.integers(1, 1440))
def test_windows_moving_tick_by_tick_each_get_their_own_slots_and_next(
    moment: tuple[str, date, time, datetime], step_minutes: int, catch_up_minutes: int
) -> None:
    """``slots_and_next`` caches runs of local dates by their first date (``due_run``), not by
    the window: consecutive ticks' windows, and other weekday sets at the same zone and time,
    must each still get their own slots and next instant (a key missing the weekdays, or a
    run cut short or overrun, fails here)."""
    zone, _, at, anchor = moment
    tz = get_zone(zone)
    for k in range(24):
        window = catch_up_window(anchor + k * step_minutes * MINUTE, catch_up_minutes * MINUTE)
        for days in (EVERY_DAY, WORKDAYS, frozenset({anchor.isoweekday()}), frozenset()):
            expected = (due_slots(tz, at, days, window), next_due(tz, at, days, window.end))
            assert slots_and_next(tz, at, days, window) == expected


@FAST
@given(
    local_moments(),
    WEEKDAY_SETS,
    st.integers(-3000, 3000),
    st.integers(1, 12 * 60),
    st.floats(0, 1, exclude_min=True),
)
def test_a_row_due_in_the_window_reviews_as_walking_its_dates_would(
    moment: tuple[str, date, time, datetime],
    days: Weekdays,
    shift_minutes: int,
    width_minutes: int,
    where: float,
) -> None:
    """``review`` takes a row whose own instant is due in the window by that instant alone
    (its slot), and computes the next instant only when the row moves on; what it owes, what
    it reaches and where the row moves are what walking the dates (``_instants``) gives."""
    zone, _, at, anchor = moment
    tz = get_zone(zone)
    instant = next_due(tz, at, days, anchor + shift_minutes * MINUTE)
    assume(instant != NEVER)
    width = width_minutes * MINUTE
    end = instant + width * (1 - where)
    window = Window(end - width, end)
    schedule = CopySchedule("k", _COPY.digest_next, _COPY.digest_time, (), lambda: days, ())
    row = CopyRow(uuid.UUID(int=1), zone, at, (), instant, None)
    found = review([row], schedule, window)
    owed, reached, after, _ = _instants(zone, at, days, window)
    user = row.user_id
    assert (found.owed[user], found.reached[user]) == (list(owed), list(reached))
    found.move_on(user)
    assert found.moves == [(row, after)]
