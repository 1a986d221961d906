"""Quiet hours (contract section 10) against real PostgreSQL and SMTP: a notification due in a
user's quiet period is held in the ledger and sent once at the period's end, whatever the
kind; ``in_app`` is not held; a reminder the hold would carry past its deadline goes now."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from notifier.app import Services
from notifier.db.schema import notification_preferences
from notifier.delivery.ledger import SlotKey
from notifier.ops.resend import resend
from notifier.rules.quiet_hours import QuietHours
from notifier.services.appointment_reminders import run_tick as remind
from notifier.services.daily_digest import run_tick as digest
from notifier.services.held_slots import with_quiet_hours
from notifier.services.overdue_scanner import run_tick as scan_overdue
from tests.support.ledger import ledger_rows
from tests.support.local_time_data import LocalTimeData, midnight, utc
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData

NY = "America/New_York"
NIGHTS = {"quiet_hours_start": time(21, 0), "quiet_hours_end": time(7, 0)}
NOON = {"quiet_hours_start": time(12, 0), "quiet_hours_end": time(14, 0)}  # UTC users
MINUTE = timedelta(minutes=1)
HALF_HOUR = timedelta(minutes=30)


class People(LocalTimeData, TaskData):
    async def channels(self, user_id: uuid.UUID, kind: str, *channels: str) -> None:
        rows = [{"user_id": user_id, "kind": kind, "channel": c, "enabled": True} for c in channels]
        async with self.engine.begin() as conn:
            await conn.execute(insert(notification_preferences), rows)


@pytest.fixture
def people(services: Services) -> People:
    return People(services.engine)


def every(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Tick instants from ``start`` up to, not including, ``end``."""
    return [start + k * step for k in range(int((end - start) / step))]


async def rows(services: Services, kind: str) -> list[tuple[Any, ...]]:
    return [
        (r["slot"], r["channel"], r["status"], r["held_until"])
        for r in await ledger_rows(services.engine, kind)
    ]


async def test_a_digest_due_in_the_night_goes_once_when_the_quiet_period_ends(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """22:00 in New York on Tuesday 10 March 2026 (EDT) is 02:00 UTC; the period ends at
    07:00 local, 11:00 UTC, hours past the due instant's catch-up window."""
    await people.digest_user(NY, None, digest_time=time(22, 0), **NIGHTS)
    due, end = utc(2026, 3, 11, 2, 0), utc(2026, 3, 11, 11, 0)
    first = await digest(services, due)
    assert (first.sent, first.held) == (0, 1)
    assert await rows(services, "daily_digest") == [
        (midnight(due.date() - timedelta(days=1)), "email", "pending", end)
    ]
    for now in every(due + MINUTE, end, HALF_HOUR):
        assert (await digest(services, now)).sent == 0
    assert mailbox.messages == []
    assert (await digest(services, end)).sent == 1
    assert (await digest(services, end + MINUTE)).sent == 0
    assert len(mailbox.messages) == 1
    [(_, _, status, held_until)] = await rows(services, "daily_digest")
    assert (status, held_until) == ("sent", end)


async def test_a_late_catch_up_send_that_would_land_in_the_period_is_held_too(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """Due 20:30 local, the worker back at 21:10 (inside the window, inside the period)."""
    await people.digest_user(NY, None, digest_time=time(20, 30), **NIGHTS)
    late, end = utc(2026, 3, 11, 1, 10), utc(2026, 3, 11, 11, 0)
    assert (await digest(services, late)).held == 1
    assert mailbox.messages == []
    assert (await digest(services, end)).sent == 1
    assert len(mailbox.messages) == 1


async def test_in_app_is_not_held_and_the_held_email_still_goes(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """The task kinds scan the ledger per channel and mark the task when it is sent: an
    in-app notice sent during the hold must neither hide the held email nor mark the task."""
    user = await people.user(None, timezone="UTC", settings=dict(NOON))
    await people.channels(user, "task_overdue", "email", "in_app")
    task = await people.task(user, utc(2026, 3, 10, 12, 20))
    first = await scan_overdue(services, utc(2026, 3, 10, 12, 30))
    assert (first.sent, first.held) == (1, 1)
    assert (await people.get_task(task))["status"] == "open"
    assert (await scan_overdue(services, utc(2026, 3, 10, 13, 0))).sent == 0
    assert mailbox.messages == []
    assert (await scan_overdue(services, utc(2026, 3, 10, 14, 0))).sent == 1
    assert len(mailbox.messages) == 1
    assert (await people.get_task(task))["status"] == "overdue"
    statuses = sorted((c, s) for _, c, s, _ in await rows(services, "task_overdue"))
    assert statuses == [("email", "sent"), ("in_app", "sent")]


async def test_an_appointment_reminder_goes_at_the_end_unless_the_appointment_starts_first(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """Both due 12:30 UTC in a 12:00-14:00 period: the 14:30 appointment's reminder waits
    until 14:00; the 13:30 appointment's cannot, and goes at its own due instant."""
    later = await people.user(
        None, timezone="UTC", settings={"appointment_reminder_minutes": [120], **NOON}
    )
    sooner = await people.user(
        None, timezone="UTC", settings={"appointment_reminder_minutes": [60], **NOON}
    )
    held = await people.appointment(later, utc(2026, 3, 10, 14, 30))
    await people.appointment(sooner, utc(2026, 3, 10, 13, 30))
    at_due = await remind(services, utc(2026, 3, 10, 12, 30))
    assert (at_due.sent, at_due.held) == (1, 1)
    assert (await remind(services, utc(2026, 3, 10, 13, 30))).sent == 0
    at_end = await remind(services, utc(2026, 3, 10, 14, 0))
    assert at_end.sent == 1
    assert len(mailbox.messages) == 2
    [row] = [
        r
        for r in await ledger_rows(services.engine, "appointment_reminder")
        if r["entity_id"] == held
    ]
    assert (row["slot"], row["status"]) == (utc(2026, 3, 10, 12, 30), "sent")


async def test_offsets_held_together_send_only_the_smallest_at_the_end(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """The 60- and 30-minute reminders of a 14:20 appointment both fall in 12:00-14:00."""
    user = await people.user(
        None, timezone="UTC", settings={"appointment_reminder_minutes": [30, 60], **NOON}
    )
    await people.appointment(user, utc(2026, 3, 10, 14, 20))
    for now in every(utc(2026, 3, 10, 13, 20), utc(2026, 3, 10, 14, 0), 10 * MINUTE):
        assert (await remind(services, now)).sent == 0
    assert (await remind(services, utc(2026, 3, 10, 14, 0))).sent == 1
    assert (await remind(services, utc(2026, 3, 10, 14, 10))).sent == 0
    found = {
        r["slot"]: r["status"] for r in await ledger_rows(services.engine, "appointment_reminder")
    }
    assert found == {utc(2026, 3, 10, 13, 20): "skipped", utc(2026, 3, 10, 13, 50): "sent"}
    assert len(mailbox.messages) == 1


async def test_a_switch_turned_off_during_the_hold_ends_it_skipped(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    user = await people.digest_user("UTC", None, digest_time=time(12, 30), **NOON)
    assert (await digest(services, utc(2026, 3, 10, 12, 30))).held == 1
    await people.set_settings(user, email_enabled=False)
    assert (await digest(services, utc(2026, 3, 10, 14, 0))).sent == 0
    assert [(s, h) for _, _, s, h in await rows(services, "daily_digest")] == [
        ("skipped", utc(2026, 3, 10, 14, 0))
    ]
    assert mailbox.messages == []


async def test_quiet_hours_changed_during_the_hold_hold_again_to_the_new_end(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    user = await people.digest_user("UTC", None, digest_time=time(12, 30), **NOON)
    assert (await digest(services, utc(2026, 3, 10, 12, 30))).held == 1
    await people.set_settings(user, quiet_hours_end=time(15, 0))
    assert (await digest(services, utc(2026, 3, 10, 14, 0))).held == 1
    assert mailbox.messages == []
    assert (await digest(services, utc(2026, 3, 10, 15, 0))).sent == 1
    assert len(mailbox.messages) == 1


async def test_a_slot_sent_after_its_hold_is_re_sent_at_once_with_the_same_message_id(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """The re-send replays the slot where it became due, at its hold's end, not inside the
    period, where the policy would hold it again."""
    user = await people.digest_user("UTC", None, digest_time=time(12, 30), **NOON)
    assert (await digest(services, utc(2026, 3, 10, 12, 30))).held == 1
    assert (await digest(services, utc(2026, 3, 10, 14, 0))).sent == 1
    key = SlotKey("daily_digest", user, user, midnight(date(2026, 3, 10)))
    result = await resend(services, key)
    assert result.resent, result.reason
    assert len(mailbox.messages) == 2
    first, again = (m.parsed()["Message-ID"] for m in mailbox.messages)
    assert first == again


async def test_a_digest_held_through_an_outage_goes_at_the_period_end_without_a_tick_in_it(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """Due 22:00 New York (02:00 UTC), quiet until 07:00 (11:00 UTC); the last tick before the
    outage ran at 20:00 local, the first after it at 07:10: no tick saw the slot, whose own
    instant left every window hours ago. The period's end is its due instant (section 10), so
    the 07:10 tick owes it; a user without quiet hours is owed nothing then."""
    quiet = await people.digest_user(NY, None, digest_time=time(22, 0), **NIGHTS)
    await people.digest_user(NY, None, digest_time=time(22, 0))
    before_outage, end = utc(2026, 3, 11, 0, 0), utc(2026, 3, 11, 11, 0)
    assert (await digest(services, before_outage)).sent == 0
    assert (await digest(services, end + 10 * MINUTE)).sent == 1
    assert (await digest(services, end + 11 * MINUTE)).sent == 0
    [message] = mailbox.messages
    assert [
        (r["user_id"], r["status"]) for r in await ledger_rows(services.engine, "daily_digest")
    ] == [(quiet, "sent")]
    assert message.parsed()["Subject"]


async def test_a_digest_never_seen_before_the_period_end_goes_at_its_first_tick(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """A worker whose first tick comes at the period's end (the user's schedule new to it)."""
    await people.digest_user(NY, None, digest_time=time(22, 0), **NIGHTS)
    assert (await digest(services, utc(2026, 3, 11, 11, 0))).sent == 1
    assert len(mailbox.messages) == 1


async def test_a_tick_for_a_past_instant_finds_what_the_period_held_too(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """A tick run for an instant far behind the latest (``notifier run --at`` a past day)
    cannot trust the next-send instants, nor tell which slots a tick saw: it still owes what
    a quiet period held into its window."""
    await people.digest_user(NY, None, digest_time=time(22, 0), **NIGHTS)
    assert (await digest(services, utc(2026, 6, 1, 12, 0))).sent == 0
    assert (await digest(services, utc(2026, 3, 11, 11, 0))).sent == 1
    assert (await digest(services, utc(2026, 3, 11, 11, 1))).sent == 0
    assert len(mailbox.messages) == 1


async def test_a_held_digest_whose_period_ended_before_the_window_is_not_sent(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """The period's end is the due instant for the catch-up window too: back at 08:30 local,
    90 minutes after 07:00, the held digest is past like any other."""
    await people.digest_user(NY, None, digest_time=time(22, 0), **NIGHTS)
    assert (await digest(services, utc(2026, 3, 11, 0, 0))).sent == 0
    assert (await digest(services, utc(2026, 3, 11, 12, 30))).sent == 0
    assert mailbox.messages == []


async def test_an_appointment_reminder_held_through_an_outage_goes_at_the_period_end(
    services: Services, people: People, mailbox: CaptureServer
) -> None:
    """Two 14:30 appointments with the 120-minute reminder, due 12:30 UTC: the last tick before
    the outage ran at 11:00, the first after it at 14:05. The one whose user is quiet
    12:00-14:00 is owed (its hold ends at 14:00, before the start); the other is past."""
    quiet = await people.user(
        None, timezone="UTC", settings={"appointment_reminder_minutes": [120], **NOON}
    )
    plain = await people.user(
        None, timezone="UTC", settings={"appointment_reminder_minutes": [120]}
    )
    held = await people.appointment(quiet, utc(2026, 3, 10, 14, 30))
    await people.appointment(plain, utc(2026, 3, 10, 14, 30))
    assert (await remind(services, utc(2026, 3, 10, 11, 0))).sent == 0
    assert (await remind(services, utc(2026, 3, 10, 14, 5))).sent == 1
    assert (await remind(services, utc(2026, 3, 10, 14, 6))).sent == 0
    assert len(mailbox.messages) == 1
    found = [
        (r["entity_id"], r["slot"], r["status"])
        for r in await ledger_rows(services.engine, "appointment_reminder")
    ]
    assert found == [(held, utc(2026, 3, 10, 12, 30), "sent")]


async def test_the_sql_and_the_python_rule_agree_on_who_has_a_quiet_period(
    services: Services, people: People
) -> None:
    """``held_slots.quiet_set`` picks the users a look back after an outage reads; the rule
    that decides is ``QuietHours.of``: the same users, or a held slot would be missed."""
    ends = [None, time(21, 0), time(7, 0)]
    cases = {
        await people.user(
            None, timezone="UTC", settings={"quiet_hours_start": a, "quiet_hours_end": b}
        ): (a, b)
        for a in ends
        for b in ends
    }
    async with services.engine.connect() as conn:
        picked = set(await with_quiet_hours(conn, list(cases)))
    assert picked == {user for user, ends in cases.items() if QuietHours.of(*ends) is not None}
    assert len(picked) == 2
