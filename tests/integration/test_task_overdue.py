"""Contract rules of ``task_overdue`` (the overdue scanner) against real PostgreSQL and SMTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select, text

from notifier.app import Services
from notifier.config import Settings
from notifier.db.schema import users
from notifier.services import overdue_scanner as svc
from notifier.services.batches import TickInstant
from notifier.services.overdue_scanner import run_tick
from tests.support.ledger import ledger_rows
from tests.support.plans import analyzed, bitmap_heap_blocks, commits_flushed, literal_sql
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData, smtp_down

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SEC = timedelta(seconds=1)


@pytest.fixture
def tdata(services: Services) -> TaskData:
    return TaskData(services.engine)


def body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


async def test_a_task_past_due_becomes_overdue_and_is_emailed_once_however_often_scanned(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    due = NOW - timedelta(minutes=10)
    task = await tdata.task(user, due)
    first = await run_tick(services, NOW)
    assert (first.selected, first.sent) == (1, 1)
    assert (await tdata.get_task(task))["status"] == "overdue"
    for minutes in (0, 15, 30, 60 * 24 * 7):
        again = await run_tick(services, NOW + timedelta(minutes=minutes))
        assert (again.selected, again.sent) == (0, 0)
    assert len(mailbox.messages) == 1
    [slot] = await ledger_rows(services.engine, "task_overdue")
    assert (slot["entity_id"], slot["slot"], slot["status"]) == (task, due, "sent")
    assert (await tdata.get_task(task))["status"] == "overdue"


@pytest.mark.parametrize("due_in", [SEC, timedelta(0), timedelta(hours=5)])
async def test_a_task_not_yet_past_due_is_left_open(
    services: Services, tdata: TaskData, mailbox: CaptureServer, due_in: timedelta
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW + due_in)
    assert (await run_tick(services, NOW)).selected == 0
    assert (await tdata.get_task(task))["status"] == "open" and mailbox.messages == []


async def test_a_task_without_due_date_is_never_overdue(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, None)
    assert (await run_tick(services, NOW)).selected == 0
    assert (await tdata.get_task(task))["status"] == "open"


@pytest.mark.parametrize(
    "change",
    [{"completed": True, "status": "completed"}, {"deleted_at": NOW - timedelta(hours=1)}],
)
async def test_completed_or_deleted_tasks_are_left_alone(
    services: Services, tdata: TaskData, mailbox: CaptureServer, change: dict[str, Any]
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW - timedelta(days=1), **change)
    assert (await run_tick(services, NOW)).selected == 0
    assert (await tdata.get_task(task))["status"] == change.get("status", "open")
    assert mailbox.messages == [] and await ledger_rows(services.engine) == []


async def test_a_task_completed_meanwhile_is_left_alone(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW - timedelta(hours=1))
    async with services.engine.connect() as conn:
        ids = list((await conn.execute(svc.candidates(NOW))).scalars())
    assert ids == [task]
    await tdata.update_task(task, completed=True, completed_at=NOW, status="completed")
    counts = await svc.process(services, ids, TickInstant(NOW))
    assert counts.sent == 0 and mailbox.messages == []
    assert (await tdata.get_task(task))["status"] == "completed"


async def test_a_task_completed_between_send_and_status_change_keeps_its_status(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW - timedelta(hours=1))
    await tdata.update_task(task, completed=True, status="completed")
    await svc.mark_overdue(services, [task], NOW)
    assert (await tdata.get_task(task))["status"] == "completed"


@pytest.mark.parametrize(
    ("is_active", "prefs"),
    [
        (False, None),
        (True, {"email_enabled": False}),
        (True, {"task_reminders_enabled": False}),
    ],
)
async def test_disabled_users_get_the_status_but_no_email(
    services: Services,
    tdata: TaskData,
    mailbox: CaptureServer,
    is_active: bool,
    prefs: dict[str, bool] | None,
) -> None:
    user = await tdata.user(is_active=is_active, settings=prefs)
    task = await tdata.task(user, NOW - timedelta(hours=1))
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.skipped) == (0, 1) and mailbox.messages == []
    assert (await tdata.get_task(task))["status"] == "overdue"
    assert (await run_tick(services, NOW + timedelta(minutes=15))).selected == 0


async def test_a_transient_smtp_failure_keeps_the_task_open_until_the_email_goes_out(
    services: Services, settings: Settings, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW - timedelta(hours=1))
    async with smtp_down(settings) as down:
        counts = await run_tick(down, NOW)
    assert (counts.sent, counts.deferred) == (0, 1)
    assert (await tdata.get_task(task))["status"] == "open"
    assert (await run_tick(services, NOW + timedelta(minutes=15))).sent == 1
    assert (await tdata.get_task(task))["status"] == "overdue"
    assert len(mailbox.messages) == 1


async def test_a_permanent_failure_is_recorded_and_the_task_still_becomes_overdue(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    mailbox.handler.reject.add("gone@example.com")
    user = await tdata.user(email="gone@example.com")
    task = await tdata.task(user, NOW - timedelta(hours=1))
    assert (await run_tick(services, NOW)).failed == 1
    assert (await tdata.get_task(task))["status"] == "overdue"
    [slot] = await ledger_rows(services.engine, "task_overdue")
    assert slot["status"] == "failed"
    assert (await run_tick(services, NOW + timedelta(minutes=15))).selected == 0


async def test_a_status_change_lost_in_a_crash_is_made_by_the_next_tick_without_email(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW - timedelta(hours=1))
    await run_tick(services, NOW)
    await tdata.update_task(task, status="open")  # as if the process died before the UPDATE
    counts = await run_tick(services, NOW + timedelta(minutes=15))
    assert (counts.selected, counts.sent, counts.already_done) == (1, 0, 1)
    assert (await tdata.get_task(task))["status"] == "overdue"
    assert len(mailbox.messages) == 1


async def test_only_a_status_set_back_to_open_makes_a_redated_task_overdue_again(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user()
    task = await tdata.task(user, NOW - timedelta(hours=1))
    await run_tick(services, NOW)
    new_due = NOW + timedelta(hours=2)
    await tdata.update_task(task, due_date=new_due)
    assert (await run_tick(services, new_due + timedelta(minutes=1))).selected == 0
    await tdata.update_task(task, status="open")
    assert (await run_tick(services, new_due + timedelta(minutes=2))).sent == 1
    slots = [r["slot"] for r in await ledger_rows(services.engine, "task_overdue")]
    assert slots == [NOW - timedelta(hours=1), new_due]


async def test_the_email_says_which_task_and_when_it_was_due_in_the_users_zone(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    user = await tdata.user(timezone="Asia/Kathmandu", full_name="Ana & <Bo>")
    due = NOW - timedelta(hours=2)
    task = await tdata.task(user, due, title="File <taxes>", description="Use form & stamp")
    await run_tick(services, NOW)
    [captured] = mailbox.messages
    msg = captured.parsed()
    assert msg["X-Notification-Kind"] == "task_overdue"
    assert "Overdue: File <taxes>" in str(msg["Subject"])
    text = body(msg, "plain")
    assert "2 hours ago" in text
    assert "Tuesday 10 March 2026, 15:45 (Asia/Kathmandu, UTC+05:45)" in text
    assert f"https://app.practice.test/tasks/{task}" in text
    html = body(msg, "html")
    assert "File &lt;taxes&gt;" in html and "Use form &amp; stamp" in html
    assert "Ana &amp; &lt;Bo&gt;" in html


async def test_bad_rows_cost_only_themselves(
    services: Services, tdata: TaskData, mailbox: CaptureServer
) -> None:
    ok = await tdata.user(email="ok@example.com")
    bad_zone = await tdata.user(email="zone@example.com", timezone="Nowhere/Special")
    bad_email = await tdata.user(email="not an address")
    tasks = [await tdata.task(u, NOW - timedelta(hours=1)) for u in (ok, bad_zone, bad_email)]
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.failed) == (1, 2)
    assert [m.rcpt_tos for m in mailbox.messages] == [["ok@example.com"]]
    assert [(await tdata.get_task(t))["status"] for t in tasks] == ["overdue"] * 3


async def test_an_idle_scan_marks_the_index_entries_that_tasks_made_overdue_left_behind(
    services: Services, tdata: TaskData
) -> None:
    # A task made overdue leaves the scanner's partial index, and its entry stays behind in
    # the range every later scan reads (due dates in the past) until VACUUM of the host's
    # table. A scan that walks the index marks such entries dead; a bitmap scan never does,
    # and reads their rows again every minute (``db.index_order``).
    user = await tdata.user()
    await many_tasks(tdata, user, [NOW - timedelta(minutes=n) for n in range(1, 20_001)])
    await many_tasks(tdata, user, [NOW + timedelta(minutes=n) for n in range(1, 20_001)])
    async with services.engine.begin() as conn:
        await conn.execute(
            text("UPDATE tasks SET status = 'overdue' WHERE due_date < :n"), {"n": NOW}
        )
    await commits_flushed(services.engine)
    await analyzed(services.engine, "tasks")  # none newly overdue: a bitmap scan looks cheap
    assert await heap_blocks_an_overdue_bitmap_scan_visits(services) > 100
    assert (await run_tick(services, NOW)).selected == 0
    assert await heap_blocks_an_overdue_bitmap_scan_visits(services) <= 1


async def many_tasks(tdata: TaskData, user: uuid.UUID, due_dates: list[datetime]) -> None:
    """Open tasks of ``user``, one a due date, in one statement."""
    async with tdata.engine.begin() as conn:
        workspace = await conn.scalar(select(users.c.workspace_id).where(users.c.id == user))
        await conn.execute(
            text(
                "INSERT INTO tasks (id, workspace_id, user_id, title, due_date)"
                " SELECT gen_random_uuid(), :w, :u, 'Task', d"
                " FROM unnest(CAST(:dates AS timestamptz[])) AS d"
            ),
            {"w": workspace, "u": user, "dates": due_dates},
        )


async def heap_blocks_an_overdue_bitmap_scan_visits(services: Services) -> int:
    async with services.engine.connect() as conn:
        sql = literal_sql(conn, svc.candidates(NOW))
        return await bitmap_heap_blocks(conn, sql, (), "tasks")
