"""Formatting and slot math never raise for an instant PostgreSQL can store (issue 21).

``db.types`` reads anything beyond Python's years 1-9999 as ``datetime.min`` or ``max``;
hosts store such sentinels. Shown in a zone west or east of UTC, they leave the calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.content.formatting import long_local, short_local, zone_label
from notifier.content.task_notification import TaskFacts, task_context
from notifier.timemath.zones import OutOfCalendarError, check_in_calendar, in_zone, shifted

EDGES = [
    datetime.min.replace(tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC),
    datetime(1, 1, 1, 3, tzinfo=UTC),
    datetime(9999, 12, 31, 20, tzinfo=UTC),
]
ZONES = [ZoneInfo(name) for name in ("UTC", "America/New_York", "Asia/Tokyo", "Etc/GMT-14")]
instants = st.one_of(st.sampled_from(EDGES), st.datetimes(timezones=st.just(UTC)))
zones = st.sampled_from(ZONES)


@given(instants, zones, instants)
def test_content_of_any_instant_in_any_zone_is_built(
    instant: datetime, zone: ZoneInfo, now: datetime
) -> None:
    long_local(instant, zone), short_local(instant, zone), zone_label(instant, zone)
    facts = TaskFacts("t", "title", None, None, instant, None)
    assert task_context(facts, zone, now, "https://app.test")["task_url"]


@given(instants, st.timedeltas(min_value=timedelta(days=-3000), max_value=timedelta(days=3000)))
def test_shifted_holds_at_the_calendars_ends(instant: datetime, delta: timedelta) -> None:
    moved = shifted(instant, delta)
    assert moved.tzinfo is UTC
    assert moved >= instant if delta >= timedelta(0) else moved <= instant


@pytest.mark.parametrize(
    ("instant", "zone", "refused"),
    [
        (datetime.min.replace(tzinfo=UTC), "UTC", True),
        (datetime.max.replace(tzinfo=UTC), "UTC", True),
        (datetime(1, 1, 1, 3, tzinfo=UTC), "America/New_York", True),
        (datetime(1, 1, 1, 6, tzinfo=UTC), "America/New_York", False),
        (datetime(9999, 12, 31, 20, tzinfo=UTC), "Asia/Tokyo", True),
        (datetime(9999, 12, 31, 20, tzinfo=UTC), "America/New_York", False),
        (datetime(2026, 3, 10, tzinfo=UTC), "Asia/Tokyo", False),
    ],
)
def test_a_date_outside_the_calendar_is_refused(
    instant: datetime, zone: str, refused: bool
) -> None:
    if refused:
        with pytest.raises(OutOfCalendarError):
            check_in_calendar(instant, ZoneInfo(zone), "due_date")
    else:
        check_in_calendar(instant, ZoneInfo(zone), "due_date")
        assert in_zone(instant, ZoneInfo(zone)).tzinfo is ZoneInfo(zone)
