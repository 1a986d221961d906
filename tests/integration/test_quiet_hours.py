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
from notifier.services.appointment_reminders import run_tick as remind
from notifier.services.daily_digest import run_tick as digest
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
