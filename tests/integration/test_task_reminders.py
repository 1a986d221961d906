"""Contract rules of ``task_reminder`` against real PostgreSQL and a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from notifier.app import Services
from notifier.config import Settings
from notifier.services import task_reminders as svc
from notifier.services.batches import TickInstant
from notifier.services.task_reminders import run_tick
from tests.support.ledger import ledger_rows
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData, smtp_down

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SEC = timedelta(seconds=1)
DAY = timedelta(hours=24)


@pytest.fixture
def tdata(services: Services) -> TaskData:
    return TaskData(services.engine)


def body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


async def test_a_due_row_is_emailed_once_and_marked_sent(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW + DAY)
    reminder = await tdata.reminder(task, user, NOW)
    assert (await run_tick(services, NOW - SEC)).selected == 0
    before = datetime.now(UTC)
    counts = await run_tick(services, NOW)
    assert counts.sent == 1
    row = await tdata.get_reminder(reminder)
    assert row["sent"] is True and row["sent_at"] >= before
    [slot] = await ledger_rows(services.engine, "task_reminder")
    assert (slot["entity_id"], slot["user_id"], slot["slot"]) == (reminder, user, NOW)
    assert slot["status"] == "sent"
    assert (await run_tick(services, NOW + timedelta(minutes=1))).selected == 0
    [captured] = mailbox.messages
    assert captured.kind == "task_reminder"


@pytest.mark.parametrize(
    ("late", "sent"),
    [(timedelta(minutes=1), True), (DAY - SEC, True), (DAY, True), (DAY + SEC, False)],
)
async def test_rows_are_sent_up_to_24_hours_late_and_skipped_beyond(
    services: Services, tdata: TaskData, mailbox: CaptureServer, late: timedelta, sent: bool
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, None)
    reminder = await tdata.reminder(task, user, NOW - late)
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.skipped) == ((1, 0) if sent else (0, 1))
    assert len(mailbox.messages) == int(sent)
    assert (await tdata.get_reminder(reminder))["sent"] is sent
    [slot] = await ledger_rows(services.engine, "task_reminder")
    assert slot["status"] == ("sent" if sent else "skipped")


async def test_a_row_days_late_is_recorded_skipped_and_left_unsent(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW)
    reminder = await tdata.reminder(task, user, NOW - timedelta(days=3))
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.skipped) == (0, 1) and mailbox.messages == []
    [slot] = await ledger_rows(services.engine, "task_reminder")
    assert slot["status"] == "skipped" and "24 hours" in slot["last_error"]
    row = await tdata.get_reminder(reminder)
    assert row["sent"] is False and row["sent_at"] is None
    assert (await run_tick(services, NOW + timedelta(minutes=1))).selected == 0


@pytest.mark.parametrize(
    "change", [{"completed": True, "status": "completed"}, {"deleted_at": NOW}]
)
async def test_a_row_of_a_completed_or_deleted_task_is_left_unsent_and_recorded_skipped(
    services: Services, tdata: TaskData, mailbox: CaptureServer, change: dict[str, Any]
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW + DAY, **change)
    reminder = await tdata.reminder(task, user, NOW)
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.skipped) == (0, 1) and mailbox.messages == []
    assert (await tdata.get_reminder(reminder))["sent"] is False
    [slot] = await ledger_rows(services.engine, "task_reminder")
    assert (slot["entity_id"], slot["status"]) == (reminder, "skipped")
    assert slot["last_error"] == "task is completed or deleted"


async def test_a_task_completed_after_selection_stops_its_reminder(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW + DAY)
    reminder = await tdata.reminder(task, user, NOW)
    async with services.engine.connect() as conn:
        ids = list((await conn.execute(svc.candidates(NOW))).scalars())
    assert ids == [reminder]
    await tdata.update_task(task, completed=True, status="completed")
    counts = await svc.process(services, ids, TickInstant(NOW))
    assert (counts.sent, counts.skipped) == (0, 1) and mailbox.messages == []
    assert (await tdata.get_reminder(reminder))["sent"] is False


@pytest.mark.parametrize(
    ("is_active", "prefs"),
    [
        (False, None),
        (True, {"email_enabled": False}),
        (True, {"task_reminders_enabled": False}),
    ],
)
async def test_disabled_users_and_settings_get_nothing(
    services: Services,
    tdata: TaskData,
    mailbox: CaptureServer,
    is_active: bool,
    prefs: dict[str, bool] | None,
) -> None:
    user = await tdata.user(is_active=is_active, settings=prefs)
    reminder = await tdata.reminder(await tdata.task(user, None), user, NOW)
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.skipped) == (0, 1) and mailbox.messages == []
    assert (await tdata.get_reminder(reminder))["sent"] is False


async def test_rows_already_sent_are_left_and_an_unknown_channel_is_skipped(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    """Contract section 9: a row goes to its own channel; one this worker cannot deliver on
    is recorded skipped with the reason, and stays unsent for whoever can."""
    user = await tdata.user()
    task = await tdata.task(user, None)
    await tdata.reminder(task, user, NOW, sent=True, sent_at=NOW)
    push = await tdata.reminder(task, user, NOW, channel="push")
    counts = await run_tick(services, NOW)
    assert (counts.selected, counts.skipped, counts.sent) == (1, 1, 0)
    assert mailbox.messages == []
    assert (await tdata.get_reminder(push))["sent"] is False
    [row] = await ledger_rows(services.engine, "task_reminder")
    assert (row["channel"], row["status"], row["last_error"]) == (
        "push",
        "skipped",
        "unknown channel 'push'",
    )


async def test_a_refused_recipient_is_failed_and_the_row_stays_unsent(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    mailbox.handler.reject.add("gone@example.com")
    user = await tdata.user(email="gone@example.com")
    reminder = await tdata.reminder(await tdata.task(user, None), user, NOW)
    counts = await run_tick(services, NOW)
    assert counts.failed == 1
    assert (await tdata.get_reminder(reminder))["sent"] is False
    [slot] = await ledger_rows(services.engine, "task_reminder")
    assert slot["status"] == "failed"
    assert (await run_tick(services, NOW + timedelta(minutes=1))).selected == 0


async def test_a_transient_failure_leaves_the_row_unsent_for_a_later_tick(
    services: Services, settings: Settings, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    reminder = await tdata.reminder(await tdata.task(user, None), user, NOW)
    async with smtp_down(settings) as down:
        assert (await run_tick(down, NOW)).deferred == 1
    assert (await tdata.get_reminder(reminder))["sent"] is False
    assert (await run_tick(services, NOW + timedelta(hours=2))).sent == 1
    assert (await tdata.get_reminder(reminder))["sent"] is True
    assert len(mailbox.messages) == 1


async def test_each_row_of_one_task_is_its_own_slot(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW + DAY)
    await tdata.reminder(task, user, NOW - timedelta(hours=1))
    await tdata.reminder(task, user, NOW)
    await tdata.reminder(task, user, NOW + timedelta(hours=1))
    assert (await run_tick(services, NOW)).sent == 2
    assert (await run_tick(services, NOW + timedelta(hours=1))).sent == 1
    assert len(mailbox.messages) == 3


async def test_the_email_names_the_task_its_due_time_in_the_users_zone_and_links_to_it(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    ws = await tdata.workspace("UTC")
    user = await tdata.user(ws, timezone="America/New_York")
    due = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
    task = await tdata.task(user, due, title="Call <Casey> & co")
    await tdata.reminder(task, user, NOW)
    await run_tick(services, NOW)
    [captured] = mailbox.messages
    msg = captured.parsed()
    assert "Call <Casey> & co" in str(msg["Subject"])
    text = body(msg, "plain")
    assert "Wednesday 11 March 2026, 10:00 (America/New_York, EDT)" in text
    assert f"https://app.practice.test/tasks/{task}" in text
    html = body(msg, "html")
    assert "Call &lt;Casey&gt; &amp; co" in html and "<Casey>" not in html


async def test_a_task_without_due_date_says_so(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    await tdata.reminder(await tdata.task(user, None), user, NOW)
    await run_tick(services, NOW)
    [captured] = mailbox.messages
    assert "No due date" in body(captured.parsed(), "plain")
