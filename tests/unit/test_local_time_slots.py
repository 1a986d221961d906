"""The pure rules of the once-a-day kinds: due instants, windows, weekends, selection ranges."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from notifier.rules.local_time_slots import (
    EVERY_DAY,
    WORKDAYS,
    DueSlot,
    candidate_days,
    due_instant,
    due_slots,
    local_range,
    selection_plan,
    slot_instant,
)
from notifier.timemath.windows import Window, catch_up_window
from notifier.timemath.zones import get_zone, local_day_bounds
from tests.support.local_time_data import utc

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def window_ending(end: datetime, minutes: int = 60) -> Window:
    return catch_up_window(end, timedelta(minutes=minutes))


def covered(zone: str, at: time, day: date, window: Window) -> bool:
    """Whether the selection plan's ranges include ``at`` on ``day`` in ``zone``."""
    return any(
        zone in entry.zones and entry.range.day == day and entry.range.lo <= at <= entry.range.hi
        for entry in selection_plan([zone], window)
    )


# The zones of issue 3 that trip naive designs: (zone, local date, local time, due instant).
TRICKY = [
    ("Asia/Kathmandu", date(2026, 1, 5), time(7, 0), utc(2026, 1, 5, 1, 15)),
    ("Australia/Eucla", date(2026, 1, 5), time(7, 0), utc(2026, 1, 4, 22, 15)),
    ("Pacific/Kiritimati", date(2026, 1, 5), time(7, 0), utc(2026, 1, 4, 17, 0)),
    ("Pacific/Pago_Pago", date(2026, 1, 5), time(7, 0), utc(2026, 1, 5, 18, 0)),
    ("Australia/Lord_Howe", date(2026, 1, 5), time(7, 0), utc(2026, 1, 4, 20, 0)),
    ("Australia/Lord_Howe", date(2026, 7, 6), time(7, 0), utc(2026, 7, 5, 20, 30)),
    ("America/New_York", date(2026, 3, 8), time(7, 0), utc(2026, 3, 8, 11, 0)),
    ("America/New_York", date(2026, 11, 1), time(7, 0), utc(2026, 11, 1, 12, 0)),
    ("Europe/London", date(2026, 3, 29), time(7, 0), utc(2026, 3, 29, 6, 0)),
    ("Europe/London", date(2026, 10, 25), time(7, 0), utc(2026, 10, 25, 7, 0)),
    ("Pacific/Apia", date(2011, 12, 31), time(7, 0), utc(2011, 12, 30, 17, 0)),
]


@pytest.mark.parametrize(("zone", "day", "at", "due"), TRICKY)
def test_due_at_the_local_time_in_the_users_zone(
    zone: str, day: date, at: time, due: datetime
) -> None:
    tz = get_zone(zone)
    assert due_instant(day, at, tz, EVERY_DAY) == due
    assert due_slots(tz, at, EVERY_DAY, window_ending(due)) == [DueSlot(day, due)]
    assert due_slots(tz, at, EVERY_DAY, window_ending(due - MINUTE)) == []
    assert due_slots(tz, at, EVERY_DAY, window_ending(due + 60 * MINUTE)) == []
    assert covered(zone, at, day, window_ending(due))


@pytest.mark.parametrize("late", [timedelta(0), MINUTE, 59 * MINUTE])
def test_a_late_tick_inside_the_catch_up_window_still_finds_the_slot(late: timedelta) -> None:
    tz = get_zone("Asia/Kathmandu")
    due = utc(2026, 1, 5, 1, 15)
    assert due_slots(tz, time(7, 0), EVERY_DAY, window_ending(due + late)) == [
        DueSlot(date(2026, 1, 5), due)
    ]
    assert covered("Asia/Kathmandu", time(7, 0), date(2026, 1, 5), window_ending(due + late))


def test_spring_forward_gap_moves_the_time_forward_by_the_gap() -> None:
    tz = get_zone("America/New_York")
    # 02:30 does not exist on 2026-03-08: it is sent at 03:30 EDT, 07:30 UTC.
    assert due_instant(date(2026, 3, 8), time(2, 30), tz, EVERY_DAY) == utc(2026, 3, 8, 7, 30)
    assert covered(
        "America/New_York", time(2, 30), date(2026, 3, 8), window_ending(utc(2026, 3, 8, 7, 30))
    )
    # Lord Howe moves 30 minutes: 02:15 becomes 02:45 (+11), 15:45 UTC the day before.
    lord_howe = get_zone("Australia/Lord_Howe")
    assert due_instant(date(2026, 10, 4), time(2, 15), lord_howe, EVERY_DAY) == utc(
        2026, 10, 3, 15, 45
    )


@pytest.mark.parametrize(
    ("zone", "day", "at", "first", "second", "gap_minutes"),
    [
        (
            "America/New_York",
            date(2026, 11, 1),
            time(1, 30),
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 1, 6, 30),
            59,
        ),
        (
            "Australia/Lord_Howe",
            date(2026, 4, 5),
            time(1, 45),
            utc(2026, 4, 4, 14, 45),
            utc(2026, 4, 4, 15, 15),
            29,  # Lord Howe repeats only half an hour
        ),
    ],
)
def test_a_repeated_local_time_is_due_once_at_its_first_occurrence(
    zone: str, day: date, at: time, first: datetime, second: datetime, gap_minutes: int
) -> None:
    tz = get_zone(zone)
    assert second.astimezone(tz).replace(tzinfo=None) == datetime.combine(day, at)
    assert due_slots(tz, at, EVERY_DAY, window_ending(first)) == [DueSlot(day, first)]
    assert due_slots(tz, at, EVERY_DAY, window_ending(second, gap_minutes)) == []


def test_apia_skipped_2011_12_30_gets_nothing_and_its_neighbours_are_kept() -> None:
    tz = get_zone("Pacific/Apia")
    assert due_instant(date(2011, 12, 30), time(7, 0), tz, EVERY_DAY) is None
    found = []  # hourly windows over five UTC days: every local date but the missing one
    start = utc(2011, 12, 28, 0, 0)
    for hour in range(24 * 5):
        found += due_slots(
            tz, time(7, 0), EVERY_DAY, Window(start + hour * HOUR, start + (hour + 1) * HOUR)
        )
    assert [slot.day for slot in found] == [
        date(2011, 12, 28),
        date(2011, 12, 29),
        date(2011, 12, 31),
        date(2012, 1, 1),
        date(2012, 1, 2),
    ]
    assert local_day_bounds(date(2011, 12, 30), tz) is None
    assert local_day_bounds(date(2011, 12, 29), tz) == (
        utc(2011, 12, 29, 10, 0),
        utc(2011, 12, 30, 10, 0),
    )


def test_skip_weekends_reads_the_users_local_date() -> None:
    # 07:00 on Saturday 2026-03-07 in Auckland is 18:00 UTC on Friday: skipped.
    auckland = get_zone("Pacific/Auckland")
    friday_utc = utc(2026, 3, 6, 18, 0)
    assert due_slots(auckland, time(7, 0), WORKDAYS, window_ending(friday_utc)) == []
    assert due_slots(auckland, time(7, 0), EVERY_DAY, window_ending(friday_utc)) == [
        DueSlot(date(2026, 3, 7), friday_utc)
    ]
    # 19:00 on Friday 2026-03-06 in Los Angeles is 03:00 UTC on Saturday: sent.
    los_angeles = get_zone("America/Los_Angeles")
    saturday_utc = utc(2026, 3, 7, 3, 0)
    assert due_slots(los_angeles, time(19, 0), WORKDAYS, window_ending(saturday_utc)) == [
        DueSlot(date(2026, 3, 6), saturday_utc)
    ]


def test_the_slot_is_the_local_date_at_midnight_utc() -> None:
    assert slot_instant(date(2026, 3, 7)) == utc(2026, 3, 7, 0, 0)


def test_candidate_days_reach_a_day_either_side_of_the_window() -> None:
    assert candidate_days(Window(utc(2026, 3, 7, 23, 30), utc(2026, 3, 8, 0, 30))) == [
        date(2026, 3, 6),
        date(2026, 3, 7),
        date(2026, 3, 8),
        date(2026, 3, 9),
    ]


def test_local_range_clips_to_the_day_and_is_inclusive() -> None:
    window = Window(utc(2026, 3, 10, 23, 0), utc(2026, 3, 11, 0, 0))
    offsets = (HOUR, HOUR)
    assert local_range(date(2026, 3, 11), window, offsets) is not None
    first = local_range(date(2026, 3, 11), window, offsets)
    assert first is not None and (first.lo, first.hi) == (time(0, 0, 0, 1), time(1, 0))
    assert local_range(date(2026, 3, 10), window, offsets) is None
    late = local_range(date(2026, 3, 10), window, (timedelta(0), timedelta(0)))
    assert late is not None and (late.lo, late.hi) == (time(23, 0, 0, 1), time.max)


def test_zones_with_the_same_offsets_share_one_range() -> None:
    window = window_ending(utc(2026, 1, 5, 12, 0))
    plan = selection_plan(["Europe/Paris", "Europe/Berlin", "Asia/Kathmandu"], window)
    shared = [e for e in plan if "Europe/Paris" in e.zones]
    assert len(shared) == 1 and shared[0].zones == ("Europe/Berlin", "Europe/Paris")
    assert (shared[0].range.lo, shared[0].range.hi) == (time(12, 0, 0, 1), time(13, 0))
    [nepal] = [e for e in plan if "Asia/Kathmandu" in e.zones]
    assert (nepal.range.lo, nepal.range.hi) == (time(16, 45, 0, 1), time(17, 45))


def test_on_a_dst_day_the_range_covers_both_offsets() -> None:
    # Window (06:00, 07:30] UTC on 2026-03-08: New York changes offset at 07:00 UTC.
    window = Window(utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 7, 30))
    for at in (time(1, 30), time(2, 30), time(3, 15)):
        assert due_slots(get_zone("America/New_York"), at, EVERY_DAY, window)
        assert covered("America/New_York", at, date(2026, 3, 8), window)


def test_an_unknown_zone_is_planned_as_utc() -> None:
    window = window_ending(utc(2026, 1, 5, 12, 0))
    [entry] = [e for e in selection_plan(["Mars/Olympus_Mons"], window)]
    assert (entry.range.day, entry.range.lo, entry.range.hi) == (
        date(2026, 1, 5),
        time(11, 0, 0, 1),
        time(12, 0),
    )


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("Australia/Lord_Howe", date(2026, 10, 4), 23.5),
        ("Asia/Kathmandu", date(2026, 1, 5), 24),
    ],
)
def test_a_local_day_lasts_what_its_wall_clock_says(zone: str, day: date, hours: float) -> None:
    bounds = local_day_bounds(day, get_zone(zone))
    assert bounds is not None
    start, end = bounds
    assert start.astimezone(get_zone(zone)).replace(tzinfo=None) == datetime.combine(day, time(0))
    assert end - start == timedelta(hours=hours)
