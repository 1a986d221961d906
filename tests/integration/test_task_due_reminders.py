"""Contract rules of ``task_due`` against real PostgreSQL and a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from notifier.app import Services
from notifier.content.mime import slot_message_id
from notifier.services import task_due_reminders as svc
from notifier.services.batches import TickInstant
from notifier.services.task_due_reminders import run_tick
from tests.support.ledger import ledger_rows
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData

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


@pytest.mark.parametrize(
    ("due_in", "sent"),
    [(SEC, 1), (timedelta(hours=3), 1), (DAY, 1), (DAY + SEC, 0), (timedelta(0), 0), (-SEC, 0)],
)
async def test_an_open_task_is_emailed_when_due_within_the_next_24_hours(
    services: Services, tdata: TaskData, mailbox: CaptureServer, due_in: timedelta, sent: int
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW + due_in)
    counts = await run_tick(services, NOW)
    assert counts.sent == sent and len(mailbox.messages) == sent
    rows = await ledger_rows(services.engine, "task_due")
    assert [(r["entity_id"], r["slot"], r["status"]) for r in rows] == [
        (task, NOW + due_in, "sent")
    ] * sent


async def test_repeated_ticks_email_a_due_task_once(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    for hour in range(1, 4):
        await tdata.task(user, NOW + timedelta(hours=hour))
    first = await run_tick(services, NOW)
    second = await run_tick(services, NOW + timedelta(minutes=5))
    third = await run_tick(services, NOW)
    assert (first.sent, second.sent, third.sent) == (3, 0, 0)
    assert second.selected == 0  # finished slots are not even selected again
    assert len(mailbox.messages) == 3


@pytest.mark.parametrize(
    "change", [{"completed": True, "status": "completed"}, {"deleted_at": NOW}]
)
async def test_completed_or_deleted_tasks_get_nothing(
    services: Services, tdata: TaskData, mailbox: CaptureServer, change: dict[str, Any]
) -> None:
    user = await tdata.user()
    await tdata.task(user, NOW + timedelta(hours=2), **change)
    counts = await run_tick(services, NOW)
    assert counts.selected == 0 and mailbox.messages == []
    assert await ledger_rows(services.engine) == []


async def test_a_changed_due_date_is_a_new_slot(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    first_due = NOW + timedelta(hours=2)
    task = await tdata.task(user, first_due)
    assert (await run_tick(services, NOW)).sent == 1
    new_due = NOW + timedelta(hours=6)
    await tdata.update_task(task, due_date=new_due)
    assert (await run_tick(services, NOW + timedelta(minutes=5))).sent == 1
    assert (await run_tick(services, NOW + timedelta(minutes=10))).sent == 0
    slots = [r["slot"] for r in await ledger_rows(services.engine, "task_due")]
    assert slots == [first_due, new_due]
    assert len(mailbox.messages) == 2


async def test_a_task_completed_after_selection_is_not_emailed(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW + timedelta(hours=2))
    async with services.engine.connect() as conn:
        ids = list((await conn.execute(svc.candidates(NOW))).scalars())
    assert ids == [task]
    await tdata.update_task(task, completed=True, completed_at=NOW, status="completed")
    counts = await svc.process(services, ids, TickInstant(NOW))
    assert counts.sent == 0 and mailbox.messages == []


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
    await tdata.task(user, NOW + timedelta(hours=2))
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.skipped) == (0, 1) and mailbox.messages == []
    [row] = await ledger_rows(services.engine, "task_due")
    assert row["status"] == "skipped" and row["last_error"]


async def test_the_default_without_settings_row_is_on_and_other_switches_do_not_matter(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    no_row = await tdata.user(email="a@example.com")
    others_off = await tdata.user(
        email="b@example.com",
        settings={"appointment_reminders_enabled": False, "digest_enabled": False},
    )
    for user in (no_row, others_off):
        await tdata.task(user, NOW + timedelta(hours=2))
    assert (await run_tick(services, NOW)).sent == 2


async def test_the_email_says_which_task_when_in_the_users_zone_and_links_to_it(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    ws = await tdata.workspace("Europe/Berlin")
    user = await tdata.user(ws, email="dr.who@example.com", full_name="Dr <b>Who</b>")
    due = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    task = await tdata.task(
        user,
        due,
        title="<script>alert(1)</script> & report",
        description="Line one <i>\nLine two",
        priority="high",
    )
    await run_tick(services, NOW)
    [captured] = mailbox.messages
    assert captured.rcpt_tos == ["dr.who@example.com"]
    msg = captured.parsed()
    assert msg["X-Notification-Kind"] == "task_due"
    assert msg["Message-ID"] == slot_message_id("task_due", task, user, due, "practice.test")
    subject = str(msg["Subject"])
    assert "<script>alert(1)</script> & report" in subject
    assert "in 3 hours" in subject and "16:00" in subject
    text = body(msg, "plain")
    assert "Tuesday 10 March 2026, 16:00 (Europe/Berlin, CET)" in text
    assert "Line one <i>\nLine two" in text and "high" in text
    assert f"https://app.practice.test/tasks/{task}" in text
    html = body(msg, "html")
    assert "<script>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; report" in html
    assert "Line one &lt;i&gt;" in html and "Dr &lt;b&gt;Who&lt;/b&gt;" in html
    assert f'href="https://app.practice.test/tasks/{task}"' in html
    assert "Europe/Berlin, CET" in html


async def test_line_breaks_in_a_title_cannot_add_headers(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    await tdata.task(user, NOW + timedelta(hours=1), title="Pay\r\nBcc: victim@example.com")
    await run_tick(services, NOW)
    [captured] = mailbox.messages
    msg = captured.parsed()
    assert msg["Bcc"] is None and captured.rcpt_tos == ["pat@example.com"]
    assert "Pay Bcc: victim@example.com" in str(msg["Subject"])


async def test_bad_rows_cost_only_themselves(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    ok = await tdata.user(email="ok@example.com")
    bad_zone = await tdata.user(email="zone@example.com", timezone="Mars/Olympus_Mons")
    no_email = await tdata.user(email=None)
    for user in (ok, bad_zone, no_email):
        await tdata.task(user, NOW + timedelta(hours=1))
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.failed) == (1, 2)
    assert [m.rcpt_tos for m in mailbox.messages] == [["ok@example.com"]]
    failed = [r for r in await ledger_rows(services.engine) if r["status"] == "failed"]
    assert {r["user_id"] for r in failed} == {bad_zone, no_email}
    assert all(r["last_error"] for r in failed)
