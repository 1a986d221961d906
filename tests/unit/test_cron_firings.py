"""``first_firing`` and ``longest_gap`` agree with a minute-by-minute walk of the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.timemath.cron import CronSpec, first_firing, longest_gap, parse_cron

EXPRESSIONS = [
    "* * * * *",
    "*/5 * * * *",
    "*/15 * * * *",
    "17 3 * * *",
    "0 9,17 * * 1-5",
    "30 2 1 * *",
    "0 0 * 2 0",
]


def matches(spec: CronSpec, at: datetime) -> bool:
    fields = (
        (spec.minute, at.minute),
        (spec.hour, at.hour),
        (spec.day, at.day),
        (spec.month, at.month),
        (spec.weekday, at.weekday()),
    )
    return all(allowed is None or value in allowed for allowed, value in fields)


def walk(spec: CronSpec, instant: datetime) -> datetime:
    at = instant.replace(second=0, microsecond=0)
    if at < instant:
        at += timedelta(minutes=1)
    while not matches(spec, at):
        at += timedelta(minutes=1)
    return at


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(EXPRESSIONS),
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
)
def test_first_firing_is_the_first_matching_minute(expression: str, instant: datetime) -> None:
    spec = parse_cron(expression)
    assert first_firing(spec, instant) == walk(spec, instant)


@pytest.mark.parametrize(
    ("expression", "gap"),
    [
        ("* * * * *", timedelta(minutes=1)),
        ("*/15 * * * *", timedelta(minutes=15)),
        ("0 9,17 * * *", timedelta(hours=16)),
        ("0 9 * * 1-5", timedelta(days=3)),  # Friday to Monday
        ("17 3 * * *", timedelta(days=1)),
    ],
)
def test_longest_gap(expression: str, gap: timedelta) -> None:
    assert longest_gap(parse_cron(expression), datetime(2026, 5, 4, tzinfo=UTC)) == gap


def test_a_schedule_that_never_fires_is_an_error() -> None:
    with pytest.raises(ValueError, match="never fires"):
        first_firing(parse_cron("0 0 30 2 *"), datetime(2026, 1, 1, tzinfo=UTC))
