"""``rules.upcoming``: what a user gets when, from the kinds' own rules; DST marked."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from notifier.rules.kinds import DEFAULT_SCHEDULES
from notifier.rules.upcoming import (
    Facts,
    Recipient,
    ReminderFact,
    Span,
    TaskFact,
    offset_changes,
    plan,
)
from notifier.timemath.cron import parse_cron

NEW_YORK = ZoneInfo("America/New_York")
USER = uuid.UUID(int=1)
SCHEDULES = {job: parse_cron(expression) for job, expression in DEFAULT_SCHEDULES.items()}


def span(now: datetime, hours: float = 48, **drop: bool) -> Span:
    schedules = {job: spec for job, spec in SCHEDULES.items() if not drop.get(job)}
    return Span(now, timedelta(hours=hours), timedelta(minutes=60), schedules)


def test_a_missing_local_time_moves_forward_and_a_repeated_one_is_sent_once() -> None:
    spring = Recipient(USER, NEW_YORK, digest_enabled=True, digest_time=time(2, 30))
    items = plan(Facts(spring), span(datetime(2026, 3, 8, 5, 0, tzinfo=UTC), hours=24)).items
    [digest] = items
    assert digest.send_at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert "02:30 does not exist that day" in digest.note

    autumn = Recipient(USER, NEW_YORK, digest_enabled=True, digest_time=time(1, 30))
    items = plan(Facts(autumn), span(datetime(2026, 11, 1, 4, 0, tzinfo=UTC), hours=20)).items
    [digest] = items
    assert digest.send_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # the first 01:30 (EDT)
    assert "happens twice" in digest.note


def test_offset_changes_are_found_to_the_second() -> None:
    start = datetime(2026, 3, 7, 5, 0, tzinfo=UTC)
    [change] = offset_changes(NEW_YORK, start, start + timedelta(hours=48))
    assert change.at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert (change.before, change.after) == (timedelta(hours=-5), timedelta(hours=-4))
    assert offset_changes(ZoneInfo("Asia/Kolkata"), start, start + timedelta(days=300)) == []


def test_each_kind_goes_out_at_its_jobs_next_tick() -> None:
    now = datetime(2026, 5, 4, 12, 0, 20, tzinfo=UTC)
    due_soon, overdue = uuid.UUID(int=2), uuid.UUID(int=3)
    facts = Facts(
        Recipient(USER, UTC),
        tasks=[
            TaskFact(due_soon, now + timedelta(hours=30), "open"),
            TaskFact(overdue, now + timedelta(hours=2), "open"),
        ],
        reminders=[ReminderFact(uuid.UUID(int=4), now - timedelta(hours=23))],
    )
    got = {(i.kind, i.entity_id): i.send_at for i in plan(facts, span(now)).items}
    assert got[("task_reminder", uuid.UUID(int=4))] == datetime(2026, 5, 4, 12, 1, tzinfo=UTC)
    # task_due: the first 5-minute tick once the due date is within 24 hours.
    assert got[("task_due", due_soon)] == datetime(2026, 5, 4, 18, 5, tzinfo=UTC)
    assert got[("task_due", overdue)] == datetime(2026, 5, 4, 12, 5, tzinfo=UTC)
    # task_overdue: the first 15-minute tick strictly after the due date.
    assert got[("task_overdue", overdue)] == datetime(2026, 5, 4, 14, 15, tzinfo=UTC)


def test_what_cannot_go_out_is_left_out_and_said() -> None:
    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    appointment = (uuid.UUID(int=5), now + timedelta(hours=3))
    facts = Facts(
        Recipient(USER, UTC, task_reminders_enabled=False, digest_enabled=True),
        appointments=[appointment],
        tasks=[TaskFact(uuid.UUID(int=6), now + timedelta(minutes=2), "open")],
        reminders=[ReminderFact(uuid.UUID(int=7), now - timedelta(hours=25))],
        recorded=frozenset({("appointment_reminder", appointment[0], now + timedelta(hours=2))}),
    )
    result = plan(facts, span(now, daily_digest=True))
    assert result.items == []  # the reminder is recorded already
    assert "task_due: task reminders are off" in result.notes
    assert "daily_digest: the daily_digest job is disabled on this worker" in result.notes

    inactive = plan(Facts(Recipient(USER, UTC, is_active=False)), span(now))
    assert inactive.notes == ["nothing is sent: user is inactive"]


def test_a_task_due_too_soon_for_the_next_tick_gets_no_task_due_email() -> None:
    now = datetime(2026, 5, 4, 12, 1, tzinfo=UTC)
    task = TaskFact(uuid.UUID(int=8), now + timedelta(minutes=2), "open")
    kinds = {i.kind for i in plan(Facts(Recipient(USER, UTC), tasks=[task]), span(now)).items}
    assert kinds == {"task_overdue"}  # the 12:05 tick finds it past due instead


def test_the_1440_minute_reminder_is_elapsed_time_across_dst() -> None:
    starts = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # 11:00 EDT
    facts = Facts(
        Recipient(USER, NEW_YORK, appointment_minutes=[1440]),
        appointments=[(uuid.UUID(int=9), starts)],
    )
    [item] = plan(facts, span(datetime(2026, 3, 7, 5, 0, tzinfo=UTC))).items
    assert item.send_at == starts - timedelta(hours=24)  # 10:00 EST, not 11:00
    assert "the clocks change in between" in item.note


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(["America/New_York", "Europe/London", "Pacific/Apia", "Asia/Kathmandu"]),
    st.times(),
)
def test_every_item_is_inside_the_span_and_not_before_it_is_due(
    now: datetime, zone: str, at: time
) -> None:
    recipient = Recipient(
        USER,
        ZoneInfo(zone),
        digest_enabled=True,
        digest_time=at,
        notes_reminder_enabled=True,
        notes_reminder_time=at,
    )
    the_span = span(now, hours=72)
    for item in plan(Facts(recipient), the_span).items:
        assert now <= item.send_at <= the_span.end
        assert item.send_at >= item.due
        assert item.send_at - item.due <= the_span.catch_up
        assert item.send_at.second == 0 and item.send_at.microsecond == 0


def test_a_digest_in_quiet_hours_shows_held_until_the_period_ends() -> None:
    """22:00 digest, quiet 21:00-07:00 in New York: it goes at the 07:00 tick (11:00 UTC)."""
    night = Recipient(
        USER,
        NEW_YORK,
        digest_enabled=True,
        digest_time=time(22, 0),
        quiet_hours_start=time(21, 0),
        quiet_hours_end=time(7, 0),
    )
    [digest] = plan(Facts(night), span(datetime(2026, 3, 10, 20, 0, tzinfo=UTC), 24)).items
    assert digest.send_at == datetime(2026, 3, 11, 11, 0, tzinfo=UTC)
    assert "held for quiet hours until 2026-03-11 07:00 EDT" in digest.note


def test_a_reminder_the_hold_would_carry_past_its_appointment_shows_at_its_due_instant() -> None:
    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    quiet = {"quiet_hours_start": time(12, 0), "quiet_hours_end": time(14, 0)}
    early, late = (
        (uuid.UUID(int=9), now + timedelta(hours=1, minutes=30)),
        (
            uuid.UUID(int=10),
            now + timedelta(hours=3),
        ),
    )
    facts = Facts(Recipient(USER, UTC, **quiet), appointments=[early, late])  # type: ignore[arg-type]
    got = {i.entity_id: i.send_at for i in plan(facts, span(now, 6)).items}
    assert got[early[0]] == now + timedelta(minutes=30)  # its 60-minute slot, quiet or not
    assert got[late[0]] == datetime(2026, 5, 4, 14, 0, tzinfo=UTC)  # 13:00 held to 14:00


def test_a_slot_the_ledger_holds_shows_at_its_holds_end_and_one_end_alone_is_said() -> None:
    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    end = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
    slot = ("daily_digest", USER, datetime(2026, 5, 3, tzinfo=UTC))
    facts = Facts(Recipient(USER, UTC, digest_enabled=True, quiet_hours_start=time(12)))
    result = plan(dataclasses.replace(facts, held={slot: end}), span(now, 6))
    assert [(i.kind, i.slot, i.send_at) for i in result.items] == [(*slot[::2], end)]
    assert "no quiet hours: quiet_hours_end is not set (both ends are needed)" in result.notes
