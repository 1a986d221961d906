"""The next due date of a recurring series: table-driven cases, then properties."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.rules.recurrence import (
    MAX_STEPS,
    BadRecurrenceError,
    Recurrence,
    next_due,
    series_root,
)
from notifier.timemath.zones import local_to_utc

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
APIA = ZoneInfo("Pacific/Apia")


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall-clock time in ``zone`` as a UTC instant (first occurrence when repeated)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def daily(interval: int = 1) -> Recurrence:
    return Recurrence("daily", interval)


CASES = [
    # (name, recurrence, zone, first due, completed due, expected next)
    ("daily", daily(), NY, at(NY, 2026, 1, 5, 9), at(NY, 2026, 1, 5, 9), at(NY, 2026, 1, 6, 9)),
    (
        "daily keeps 09:00 across spring-forward",
        daily(),
        NY,
        at(NY, 2026, 3, 1, 9),
        at(NY, 2026, 3, 7, 9),
        datetime(2026, 3, 8, 13, 0, tzinfo=UTC),
    ),
    (
        "daily keeps 09:00 across fall-back",
        daily(),
        NY,
        at(NY, 2026, 10, 1, 9),
        at(NY, 2026, 10, 31, 9),
        datetime(2026, 11, 1, 14, 0, tzinfo=UTC),
    ),
    (
        "daily every 3 days, phase from the first task",
        daily(3),
        BERLIN,
        at(BERLIN, 2026, 3, 1, 8),
        at(BERLIN, 2026, 3, 5, 8),  # postponed off the series' days
        at(BERLIN, 2026, 3, 7, 8),
    ),
    (
        "weekly every 2 weeks across DST",
        Recurrence("weekly", 2),
        BERLIN,
        at(BERLIN, 2026, 3, 16, 18, 30),
        at(BERLIN, 2026, 3, 16, 18, 30),
        at(BERLIN, 2026, 3, 30, 18, 30),
    ),
    (
        "monthly Jan 31 to Feb 28",
        Recurrence("monthly"),
        NY,
        at(NY, 2026, 1, 31, 9),
        at(NY, 2026, 1, 31, 9),
        at(NY, 2026, 2, 28, 9),
    ),
    (
        "monthly Feb 28 back to Mar 31, counted from the first task",
        Recurrence("monthly"),
        NY,
        at(NY, 2026, 1, 31, 9),
        at(NY, 2026, 2, 28, 9),
        at(NY, 2026, 3, 31, 9),
    ),
    (
        "monthly Mar 31 to Apr 30",
        Recurrence("monthly"),
        NY,
        at(NY, 2026, 1, 31, 9),
        at(NY, 2026, 3, 31, 9),
        at(NY, 2026, 4, 30, 9),
    ),
    (
        "monthly on the 30th clamps in February only",
        Recurrence("monthly"),
        NY,
        at(NY, 2026, 1, 30, 9),
        at(NY, 2026, 2, 28, 9),
        at(NY, 2026, 3, 30, 9),
    ),
    (
        "monthly on the 29th in a leap year",
        Recurrence("monthly"),
        NY,
        at(NY, 2028, 1, 29, 9),
        at(NY, 2028, 1, 29, 9),
        at(NY, 2028, 2, 29, 9),
    ),
    (
        "monthly on the 28th is never moved",
        Recurrence("monthly"),
        NY,
        at(NY, 2026, 1, 28, 9),
        at(NY, 2026, 2, 28, 9),
        at(NY, 2026, 3, 28, 9),
    ),
    (
        "monthly every 2 months from the 31st",
        Recurrence("monthly", 2),
        NY,
        at(NY, 2026, 12, 31, 9),
        at(NY, 2026, 12, 31, 9),
        at(NY, 2027, 2, 28, 9),
    ),
    (
        "custom: Monday, Wednesday, Friday",
        Recurrence("custom", rule="FREQ=WEEKLY;BYDAY=MO,WE,FR"),
        NY,
        at(NY, 2026, 3, 2, 9),
        at(NY, 2026, 3, 6, 9),
        at(NY, 2026, 3, 9, 9),
    ),
    (
        "custom with RRULE: prefix, lower case",
        Recurrence("Custom", rule="RRULE:freq=monthly;byday=-1fr"),
        NY,
        at(NY, 2026, 1, 30, 17),
        at(NY, 2026, 1, 30, 17),
        at(NY, 2026, 2, 27, 17),
    ),
    (
        "custom keeps RFC 5545: BYMONTHDAY=31 skips short months",
        Recurrence("custom", rule="FREQ=MONTHLY;BYMONTHDAY=31"),
        NY,
        at(NY, 2026, 1, 31, 9),
        at(NY, 2026, 1, 31, 9),
        at(NY, 2026, 3, 31, 9),
    ),
    (
        "custom UNTIL in UTC is inclusive",
        Recurrence("custom", rule="FREQ=DAILY;UNTIL=20260305T140000Z"),
        NY,
        at(NY, 2026, 3, 2, 9),
        at(NY, 2026, 3, 4, 9),
        at(NY, 2026, 3, 5, 9),
    ),
    (
        "custom floating UNTIL date is read in the user's zone",
        Recurrence("custom", rule="FREQ=DAILY;UNTIL=20260305"),
        NY,
        at(NY, 2026, 3, 2, 9),
        at(NY, 2026, 3, 4, 9),
        at(NY, 2026, 3, 5, 9),
    ),
    (
        "recurrence_end equal to the next occurrence keeps it",
        Recurrence("daily", end=at(NY, 2026, 1, 6, 9)),
        NY,
        at(NY, 2026, 1, 5, 9),
        at(NY, 2026, 1, 5, 9),
        at(NY, 2026, 1, 6, 9),
    ),
    (
        "a time in the spring-forward gap moves forward by the gap",
        daily(),
        NY,
        at(NY, 2026, 3, 1, 2, 30),
        at(NY, 2026, 3, 7, 2, 30),
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
    ),
    (
        "after the gap the series is back at 02:30",
        daily(),
        NY,
        at(NY, 2026, 3, 1, 2, 30),
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
    ),
    (
        "a repeated time is taken at its first occurrence",
        daily(),
        NY,
        at(NY, 2026, 10, 1, 1, 30),
        at(NY, 2026, 10, 31, 1, 30),
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
    ),
    (
        "a missing local date (Apia 2011-12-30) gives no extra instance",
        daily(),
        APIA,
        at(APIA, 2011, 12, 1, 9),
        at(APIA, 2011, 12, 29, 9),
        datetime(2011, 12, 30, 19, 0, tzinfo=UTC),
    ),
    (
        "the day after Apia's missing date",
        daily(),
        APIA,
        at(APIA, 2011, 12, 1, 9),
        datetime(2011, 12, 30, 19, 0, tzinfo=UTC),
        at(APIA, 2012, 1, 1, 9),
    ),
]


@pytest.mark.parametrize(
    ("recurrence", "zone", "first", "completed", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_next_due(
    recurrence: Recurrence,
    zone: ZoneInfo,
    first: datetime,
    completed: datetime,
    expected: datetime,
) -> None:
    assert next_due(recurrence, first_due=first, after=completed, zone=zone) == expected


@pytest.mark.parametrize(
    ("recurrence", "completed"),
    [
        (Recurrence("daily", end=at(NY, 2026, 1, 6, 8, 59)), at(NY, 2026, 1, 5, 9)),
        (Recurrence("custom", rule="FREQ=DAILY;COUNT=3"), at(NY, 2026, 1, 7, 9)),
        (Recurrence("custom", rule="FREQ=DAILY;UNTIL=20260106T140000Z"), at(NY, 2026, 1, 6, 9)),
        (Recurrence("custom", rule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"), at(NY, 2026, 1, 5, 9)),
    ],
    ids=["recurrence_end", "COUNT", "UNTIL", "never again"],
)
def test_nothing_after_the_end_of_a_series(recurrence: Recurrence, completed: datetime) -> None:
    assert next_due(recurrence, first_due=at(NY, 2026, 1, 5, 9), after=completed, zone=NY) is None


@pytest.mark.parametrize(
    ("recurrence", "code"),
    [
        (Recurrence("yearly"), "unknown_type"),
        (Recurrence(None), "unknown_type"),
        (Recurrence(""), "unknown_type"),
        (Recurrence("daily", 0), "bad_interval"),
        (Recurrence("weekly", -2), "bad_interval"),
        (Recurrence("monthly", 10**9), "bad_interval"),
        (Recurrence("custom", rule=None), "malformed_rule"),
        (Recurrence("custom", rule="  "), "malformed_rule"),
        (Recurrence("custom", rule="FREQ=FORTNIGHTLY"), "malformed_rule"),
        (Recurrence("custom", rule="FREQ=DAILY;INTERVAL=0"), "malformed_rule"),
        (Recurrence("custom", rule="FREQ=DAILY;INTERVAL=x"), "malformed_rule"),
        (Recurrence("custom", rule="FREQ=MINUTELY"), "malformed_rule"),
        (Recurrence("custom", rule="FREQ=DAILY;BYHOUR=99"), "malformed_rule"),
        (Recurrence("custom", rule="COUNT=3"), "malformed_rule"),
        (Recurrence("custom", rule="every monday"), "malformed_rule"),
        (Recurrence("custom", rule="DTSTART:20260101T000000\nRRULE:FREQ=DAILY"), "malformed_rule"),
        (Recurrence("custom", rule="FREQ=DAILY;UNTIL=soon"), "malformed_rule"),
    ],
)
def test_bad_series_raise_one_error_with_a_loggable_code(recurrence: Recurrence, code: str) -> None:
    with pytest.raises(BadRecurrenceError) as caught:
        next_due(recurrence, first_due=at(NY, 2026, 1, 5, 9), after=at(NY, 2026, 1, 5, 9), zone=NY)
    assert caught.value.code == code


def test_an_hourly_rule_too_long_to_walk_is_refused_not_looped_over() -> None:
    first = at(NY, 2000, 1, 1, 9)
    after = first + timedelta(hours=MAX_STEPS + 10)
    with pytest.raises(BadRecurrenceError) as caught:
        next_due(Recurrence("custom", rule="FREQ=HOURLY"), first_due=first, after=after, zone=NY)
    assert caught.value.code == "too_many_steps"


def test_series_root_follows_parent_links_and_survives_gaps_and_cycles() -> None:
    a, b, c, d, gone = (uuid.uuid4() for _ in range(5))
    assert series_root(a, {a: None}) == a
    assert series_root(c, {c: b, b: a, a: None}) == a
    assert series_root(c, {c: gone}) == gone
    assert series_root(d, {d: c, c: d}) == c


ZONES = [ZoneInfo(z) for z in ("UTC", "America/New_York", "Europe/London", "Australia/Sydney")]
ZONES += [ZoneInfo(z) for z in ("Asia/Kathmandu", "America/Santiago", "Pacific/Chatham")]


@st.composite
def series(draw: st.DrawFn) -> tuple[Recurrence, ZoneInfo, datetime]:
    zone = draw(st.sampled_from(ZONES))
    local = draw(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31))
    ).replace(second=0, microsecond=0)
    kind = draw(st.sampled_from(["daily", "weekly", "monthly"]))
    recurrence = Recurrence(kind, draw(st.integers(1, 12)))
    return recurrence, zone, local.replace(tzinfo=zone).astimezone(UTC)


@settings(max_examples=150, deadline=None)
@given(series(), st.integers(1, 14))
def test_fixed_series_keep_the_wall_clock_time_and_the_first_tasks_day(
    drawn: tuple[Recurrence, ZoneInfo, datetime], steps: int
) -> None:
    recurrence, zone, first = drawn
    local_first = first.astimezone(zone)
    current = first
    for _ in range(steps):
        found = next_due(recurrence, first_due=first, after=current, zone=zone)
        assert found is not None and found > current
        wall = found.astimezone(zone)
        # The first task's local time on that local date, by the contract's gap/fold rule.
        assert found == local_to_utc(wall.date(), local_first.time(), zone)
        if recurrence.type == "monthly":
            last = calendar.monthrange(wall.year, wall.month)[1]
            assert wall.day == min(local_first.day, last)
        current = found


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        *("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYSETPOS"),
                        *("BYMONTH", "BYHOUR", "WKST", "BYWEEKNO", "BYYEARDAY", "X-FOO", ""),
                    ]
                ),
                st.one_of(
                    st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY", "MO"]),
                    st.sampled_from(["-1", "0", "1", "31", "366", "20260101", "2FR", "+1MO"]),
                    st.text(max_size=8),
                ),
            ),
            max_size=5,
        ).map(lambda parts: ";".join(f"{k}={v}" for k, v in parts)),
    )
)
def test_any_custom_rule_text_gives_a_date_none_or_bad_recurrence_only(text: str) -> None:
    first = at(NY, 2026, 1, 5, 9)
    try:
        found = next_due(Recurrence("custom", rule=text), first_due=first, after=first, zone=NY)
    except BadRecurrenceError:
        return
    assert found is None or found > first
