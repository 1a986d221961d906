"""One tick of every registered job on SQLite: the email goes out, the ledger row says ``sent``.

A smoke subset of the kinds' PostgreSQL tests, run on the dialect of ``notifier dev``. The
test is parametrized by the job registry, so a newly registered job without a SQLite case
here fails loudly instead of going untested on SQLite.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.app import Services
from notifier.db.schema import job_runs, reminders_sent, sessions
from notifier.jobs.registry import tick_functions
from notifier.jobs.runs import run_recorded
from tests.support.data import Data
from tests.support.smtp import Captured, CaptureServer
from tests.support.task_data import TaskData

NOW = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # a Monday
AfterCheck = Callable[[TaskData], Awaitable[None]]


@dataclass
class Expect:
    """What one tick at ``NOW`` must have sent (``kind`` None: a job that sends no email)."""

    kind: str | None
    to: str = ""
    entity_id: uuid.UUID | None = None
    slot: datetime | None = None
    text_contains: tuple[str, ...] = ()
    after: list[AfterCheck] = field(default_factory=list)


def _local_minute(zone: str) -> tuple[datetime, time]:
    local = NOW.astimezone(ZoneInfo(zone))
    return local, time(local.hour, local.minute)


def _local_date_slot(local: datetime) -> datetime:
    return datetime.combine(local.date(), time(0), tzinfo=UTC)


async def _insert(engine: AsyncEngine, table: Any, **values: Any) -> uuid.UUID:
    values.setdefault("id", uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(insert(table).values(**values))
    return uuid.UUID(str(values["id"]))


async def appointment_case(engine: AsyncEngine) -> Expect:
    data = TaskData(engine)
    user = await data.user(email="ana@example.com")
    client = await data.client(full_name="Sam <b>Bold</b> Tester")
    appointment = await data.appointment(user, NOW + timedelta(minutes=30), client_id=client)
    return Expect(
        "appointment_reminder",
        "ana@example.com",
        appointment,
        NOW - timedelta(minutes=30),
        ("Sam <b>Bold</b> Tester",),
    )


async def digest_case(engine: AsyncEngine) -> Expect:
    data = Data(engine)
    local, at = _local_minute("Asia/Kathmandu")
    settings = {"digest_enabled": True, "digest_time": at}
    user = await data.user(timezone="Asia/Kathmandu", settings=settings)
    client = await data.client(full_name="Mia Chen")
    await data.appointment(user, NOW + timedelta(hours=2), client_id=client)
    return Expect("daily_digest", "pat@example.com", user, _local_date_slot(local), ("Mia Chen",))


async def weekly_case(engine: AsyncEngine) -> Expect:
    data = TaskData(engine)
    local, at = _local_minute("Pacific/Pago_Pago")
    settings = {
        "weekly_report_enabled": True,
        "weekly_report_day": local.isoweekday(),
        "weekly_report_time": at,
    }
    user = await data.user(timezone="Pacific/Pago_Pago", settings=settings)
    await data.task(user, NOW + timedelta(days=2), title="File the quarterly return")
    await data.task(user, NOW - timedelta(days=2), title="Overdue <b>letter</b>")
    slot = _local_date_slot(local)
    expected = ("File the quarterly return", "Overdue <b>letter</b>", "OVERDUE: 1")
    return Expect("weekly_report", "pat@example.com", user, slot, expected)


async def notes_case(engine: AsyncEngine) -> Expect:
    data = Data(engine)
    local, at = _local_minute("Pacific/Kiritimati")
    settings = {"notes_reminder_enabled": True, "notes_reminder_time": at}
    user = await data.user(timezone="Pacific/Kiritimati", settings=settings)
    for draft in (True, True, False):
        await _insert(engine, sessions, user_id=user, is_draft=draft, updated_at=NOW)
    return Expect("notes_reminder", "pat@example.com", user, _local_date_slot(local), ("2",))


async def task_due_case(engine: AsyncEngine) -> Expect:
    data = TaskData(engine)
    user = await data.user(timezone="America/Los_Angeles")
    due = NOW + timedelta(hours=3)
    task = await data.task(user, due, title="Call back the insurer")
    return Expect("task_due", "pat@example.com", task, due, ("Call back the insurer",))


async def task_reminder_case(engine: AsyncEngine) -> Expect:
    data = TaskData(engine)
    user = await data.user(timezone="Pacific/Kiritimati")
    task = await data.task(user, NOW + timedelta(days=3), title="Send intake forms")
    remind_at = NOW - timedelta(minutes=5)
    reminder = await data.reminder(task, user, remind_at)

    async def marked_sent(data: TaskData) -> None:
        row = await data.get_reminder(reminder)
        assert row["sent"] is True and row["sent_at"] is not None

    return Expect(
        "task_reminder",
        "pat@example.com",
        reminder,
        remind_at,
        ("Send intake forms",),
        [marked_sent],
    )


async def overdue_case(engine: AsyncEngine) -> Expect:
    data = TaskData(engine)
    user = await data.user()
    due = NOW - timedelta(hours=2)
    task = await data.task(user, due, title="Renew liability cover")

    async def marked_overdue(data: TaskData) -> None:
        assert (await data.get_task(task))["status"] == "overdue"

    return Expect(
        "task_overdue", "pat@example.com", task, due, ("Renew liability cover",), [marked_overdue]
    )


async def recurring_case(engine: AsyncEngine) -> Expect:
    data = TaskData(engine)
    user = await data.user(timezone="America/Los_Angeles")
    done = await data.task(
        user,
        NOW - timedelta(days=1),
        title="Weekly supervision notes",
        completed=True,
        completed_at=NOW - timedelta(hours=1),
        status="completed",
        is_recurring=True,
        recurrence_type="weekly",
    )

    async def next_instance(data: TaskData) -> None:
        children = await data.children(done)
        assert [c["due_date"] for c in children] == [NOW + timedelta(days=6)]
        assert children[0]["status"] == "open" and children[0]["completed"] is False

    return Expect(None, after=[next_instance])


async def _ledger_row(engine: AsyncEngine, age: timedelta, status: str) -> uuid.UUID:
    at = NOW - age
    return await _insert(
        engine,
        reminders_sent,
        kind="appointment_reminder",
        entity_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        slot=at,
        status=status,
        attempts=0,
        created_at=at,
    )


async def cleanup_case(engine: AsyncEngine) -> Expect:
    old = await _ledger_row(engine, timedelta(days=40), "sent")
    recent = await _ledger_row(engine, timedelta(days=1), "sent")
    stale = await _ledger_row(engine, timedelta(hours=3), "pending")
    old_run = await _insert(
        engine,
        job_runs,
        job_name="appointment_reminders",
        run_id="old",
        scheduled_for=NOW - timedelta(days=40),
        started_at=NOW - timedelta(days=40),
        status="succeeded",
    )

    async def history_pruned(data: TaskData) -> None:
        rs = reminders_sent.c
        async with data.engine.connect() as conn:
            left = dict((await conn.execute(select(rs.id, rs.status))).all())
            runs = set((await conn.execute(select(job_runs.c.id))).scalars())
        assert left == {recent: "sent", stale: "failed"} and old not in left
        assert old_run not in runs and len(runs) == 2  # this test's own two ticks

    return Expect(None, after=[history_pruned])


CASES: dict[str, Callable[[AsyncEngine], Awaitable[Expect]]] = {
    "appointment_reminders": appointment_case,
    "daily_digest": digest_case,
    "weekly_report": weekly_case,
    "notes_reminders": notes_case,
    "task_due_reminders": task_due_case,
    "task_reminders": task_reminder_case,
    "overdue_scanner": overdue_case,
    "recurring_tasks": recurring_case,
    "cleanup": cleanup_case,
}


async def _ledger(engine: AsyncEngine) -> list[tuple[str, uuid.UUID, datetime, str]]:
    rs = reminders_sent.c
    async with engine.connect() as conn:
        rows = await conn.execute(select(rs.kind, rs.entity_id, rs.slot, rs.status))
        return [(r.kind, r.entity_id, r.slot, r.status) for r in rows]


async def _job_run_statuses(engine: AsyncEngine, job: str) -> list[str]:
    async with engine.connect() as conn:
        stmt = select(job_runs.c.status).where(job_runs.c.job_name == job)
        return list((await conn.execute(stmt)).scalars())


def _parts(captured: Captured) -> tuple[str, str, str]:
    """Subject, text body and HTML body of a captured email."""
    msg = captured.parsed()
    text, html = msg.get_body(preferencelist=("plain",)), msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(msg["Subject"]), str(text.get_content()), str(html.get_content())


def _check_email(expect: Expect, mailbox: CaptureServer) -> None:
    messages = mailbox.messages
    assert [m.kind for m in messages] == [expect.kind]
    subject, text, html = _parts(messages[0])
    assert messages[0].rcpt_tos == [expect.to]
    for fragment in expect.text_contains:
        assert fragment in text, f"{fragment!r} missing from the text body"
    assert "<b>Bold</b>" not in html  # values from the database are escaped in HTML
    assert subject


@pytest.mark.parametrize("job", sorted(tick_functions()))
async def test_one_tick_of_each_registered_job_on_sqlite(
    job: str, sqlite_services: Services, mailbox: CaptureServer
) -> None:
    case = CASES.get(job)
    assert case is not None, f"no SQLite smoke case for the registered job {job!r}: add one"
    expect = await case(sqlite_services.engine)

    first = await run_recorded(sqlite_services, job, NOW)
    again = await run_recorded(sqlite_services, job, NOW)

    assert await _job_run_statuses(sqlite_services.engine, job) == ["succeeded", "succeeded"]
    for check in expect.after:
        await check(TaskData(sqlite_services.engine))
    if expect.kind is None:
        assert mailbox.messages == []
        return
    assert (first.sent, again.sent) == (1, 0)  # the second tick finds the slot done
    _check_email(expect, mailbox)
    ledger = await _ledger(sqlite_services.engine)
    assert ledger == [(expect.kind, expect.entity_id, expect.slot, "sent")]
