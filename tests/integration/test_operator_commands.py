"""``notifier check``, ``preview`` and ``upcoming`` as operators run them, against real servers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from notifier.app import Services
from notifier.config import Settings
from notifier.db.schema import job_runs, reminders_sent, task_reminders, tasks
from notifier.jobs.runs import run_recorded
from notifier.ops.preview import KINDS, Request, build_preview
from tests.conftest import _admin, db_url
from tests.support.local_time_data import LocalTimeData, parts
from tests.support.processes import run_notifier, service_env
from tests.support.servers import Server, free_port
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData

AT = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # a Monday
SECRET = "pw-Sekr1t"
JOB_OF = {
    "appointment_reminder": "appointment_reminders",
    "daily_digest": "daily_digest",
    "weekly_report": "weekly_report",
    "notes_reminder": "notes_reminders",
    "task_due": "task_due_reminders",
    "task_reminder": "task_reminders",
    "task_overdue": "overdue_scanner",
}


async def notifier(args: list[str], env: dict[str, str]) -> Any:
    return await asyncio.to_thread(run_notifier, args, env)


async def test_check_passes_against_working_servers(settings: Settings) -> None:
    unsubscribe = {"SECRET_KEY": SECRET * 2, "PUBLIC_BASE_URL": "https://notify.example.com"}
    result = await notifier(["check"], service_env(settings, **unsubscribe))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in ("configuration", "postgresql", "smtp"):
        assert any(line.startswith("ok") and name in line for line in lines), lines
    assert "schema at head" in result.stdout
    assert any("redis" in line and not line.startswith("FAIL") for line in lines)
    assert SECRET not in result.stdout + result.stderr


async def test_check_names_every_failure_and_never_prints_a_secret(settings: Settings) -> None:
    env = service_env(
        settings,
        DATABASE_URL=f"postgresql://notifier:{SECRET}-db@127.0.0.1:{free_port()}/notifier",
        REDIS_URL=f"redis://:{SECRET}-redis@127.0.0.1:{free_port()}/0",
        SMTP_PORT=str(free_port()),
        SMTP_USERNAME="notifier",
        SMTP_PASSWORD=f"{SECRET}-smtp",
        SMTP_TLS="true",
        SMTP_STARTTLS="true",
    )
    result = await notifier(["check"], env)
    assert result.returncode == 1
    failed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("FAIL")}
    assert failed == {"configuration", "postgresql", "redis", "smtp"}
    assert "SMTP_TLS and SMTP_STARTTLS" in result.stdout
    assert SECRET not in result.stdout + result.stderr


@pytest.fixture
async def unmigrated(pg: Server) -> AsyncIterator[str]:
    name = f"bare_{uuid.uuid4().hex[:10]}"
    await _admin(pg, f"CREATE DATABASE {name}")
    yield db_url(pg, name)
    await _admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_check_says_to_migrate_a_database_behind_this_version(
    settings: Settings, unmigrated: str
) -> None:
    result = await notifier(["check"], service_env(settings, DATABASE_URL=unmigrated))
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "postgresql" in line and "no notifier schema" in line and "run notifier migrate" in line


async def seed_every_kind(services: Services) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """A user in New York with one email of every kind due at ``AT``."""
    data, local = TaskData(services.engine), LocalTimeData(services.engine)
    workspace = await data.workspace("America/New_York")
    local_tick = time(10, 0)  # AT in New York (EDT)
    user = await data.user(
        workspace,
        settings={
            "digest_enabled": True,
            "digest_time": local_tick,
            "notes_reminder_enabled": True,
            "notes_reminder_time": local_tick,
            "weekly_report_enabled": True,
            "weekly_report_day": 1,  # AT is a Monday in New York too
            "weekly_report_time": local_tick,
        },
    )
    client = await data.client(workspace, full_name="Casey <b>Client</b>")
    ids = {
        "appointment_reminder": await data.appointment(
            user, AT + timedelta(minutes=60), client_id=client
        )
    }
    await local.session(user)
    ids["task_due"] = await data.task(user, AT + timedelta(hours=3), title="File the claim")
    ids["task_overdue"] = await data.task(user, AT - timedelta(hours=2), title="Call the lab")
    ids["task_reminder"] = await data.reminder(ids["task_due"], user, AT - timedelta(minutes=5))
    return user, ids


async def _written_rows(services: Services) -> tuple[int, ...]:
    async with services.engine.connect() as conn:
        return (
            int(await conn.scalar(select(func.count()).select_from(reminders_sent)) or 0),
            int(await conn.scalar(select(func.count()).select_from(job_runs)) or 0),
            int(await conn.scalar(select(func.count()).where(task_reminders.c.sent)) or 0),
            int(await conn.scalar(select(func.count()).where(tasks.c.status == "overdue")) or 0),
        )


async def test_preview_is_the_email_the_tick_then_sends_and_writes_nothing(
    services: Services, mailbox: CaptureServer
) -> None:
    user, ids = await seed_every_kind(services)
    previews = {}
    for kind in KINDS:
        request = Request(kind, user, AT, ids.get(kind))
        previews[kind] = await build_preview(
            services.engine, services.templates, services.settings, request
        )
    assert await _written_rows(services) == (0, 0, 0, 0)
    assert mailbox.messages == []

    for kind in KINDS:
        await run_recorded(services, JOB_OF[kind], AT)
    sent = {m.kind: parts(m) for m in mailbox.messages}
    assert set(sent) == set(KINDS)
    for kind, preview in previews.items():
        assert preview.notes == [], (kind, preview.notes)
        subject, text, html = sent[kind]
        assert (preview.content.subject, preview.content.text) == (subject, text), kind
        assert preview.content.html == html, kind


async def test_preview_command_prints_the_text_and_writes_the_html(
    services: Services, settings: Settings, mailbox: CaptureServer, tmp_path: Path
) -> None:
    user, _ = await seed_every_kind(services)
    html = tmp_path / "reminder.html"
    args = ["preview", "appointment_reminder", "--user", str(user), "--at", AT.isoformat()]
    result = await notifier([*args, "--html", str(html)], service_env(settings))
    assert result.returncode == 0, result.stderr
    headers, _, text = result.stdout.partition("\n\n")
    assert "X-Notification-Kind: appointment_reminder" in headers
    assert "Casey <b>Client</b>" in text and "in 1 hour" in text
    assert "Casey &lt;b&gt;Client&lt;/b&gt;" in html.read_text()
    assert await _written_rows(services) == (0, 0, 0, 0) and mailbox.messages == []

    off = await notifier([*args, "--entity", str(uuid.uuid4())], service_env(settings))
    assert off.returncode == 1 and "no appointment with that id" in off.stderr


async def test_preview_says_why_nothing_would_be_sent(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    local = LocalTimeData(services.engine)
    user = await local.notes_user("Europe/Paris", notes_reminder_time=time(15, 0))
    args = ["preview", "notes_reminder", "--user", str(user), "--at", AT.isoformat()]
    args += ["--html", str(tmp_path / "notes.html")]
    result = await notifier(args, service_env(settings))
    assert result.returncode == 1 and "no draft session notes" in result.stderr
    await local.set_settings(user, notes_reminder_enabled=False)
    await local.session(user)
    result = await notifier(args, service_env(settings))
    assert result.returncode == 0
    assert "X-Preview-Note: notes reminders are off: nothing is sent" in result.stdout


async def test_upcoming_marks_dst_and_names_the_instants_the_worker_sends_at(
    services: Services, settings: Settings, mailbox: CaptureServer
) -> None:
    data = TaskData(services.engine)
    workspace = await data.workspace("America/New_York")
    user = await data.user(
        workspace,
        settings={
            "digest_enabled": True,
            "digest_time": time(2, 30),  # missing on 2026-03-08: clocks jump 02:00 -> 03:00
            "appointment_reminder_minutes": [60, 1440],
            "weekly_report_enabled": True,
            "weekly_report_day": 7,  # Sunday 8 March, at the same missing time
            "weekly_report_time": time(2, 30),
        },
    )
    appointment = await data.appointment(user, datetime(2026, 3, 8, 15, 0, tzinfo=UTC))
    start = datetime(2026, 3, 7, 5, 0, tzinfo=UTC)  # midnight EST
    args = ["upcoming", "--user", str(user), "--at", start.isoformat(), "--hours", "48"]
    result = await notifier([*args, "--json"], service_env(settings))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    got = [(i["kind"], i["send_at"]) for i in report["items"]]
    assert got == [
        ("daily_digest", "2026-03-07T07:30:00+00:00"),
        ("appointment_reminder", "2026-03-07T15:00:00+00:00"),  # 24 h of elapsed time
        ("daily_digest", "2026-03-08T07:30:00+00:00"),  # 02:30 moved to 03:30 EDT
        ("weekly_report", "2026-03-08T07:30:00+00:00"),
        ("appointment_reminder", "2026-03-08T14:00:00+00:00"),
    ]
    assert "on Sundays" in report["items"][3]["note"]
    assert "does not exist that day" in report["items"][2]["note"]
    assert report["dst_changes"] == [
        {
            "at": "2026-03-08T07:00:00+00:00",
            "at_local": "2026-03-08T03:00:00-04:00",
            "offset_before": "UTC-05:00",
            "offset_after": "UTC-04:00",
        }
    ]
    table = await notifier(args, service_env(settings))
    assert "-- DST: clocks go forward 1:00 at 2026-03-08 03:00 EDT" in table.stdout

    for item in report["items"]:
        send_at = datetime.fromisoformat(item["send_at"])
        job = JOB_OF[item["kind"]]
        before = len(mailbox.messages)
        await run_recorded(services, job, send_at - timedelta(minutes=1))
        assert len(mailbox.messages) == before, f"{item} went out a minute early"
        await run_recorded(services, job, send_at)
        assert [m.kind for m in mailbox.messages[before:]] == [item["kind"]], item
    assert str(appointment) in result.stdout
    again = json.loads((await notifier([*args, "--json"], service_env(settings))).stdout)
    assert again["items"] == []  # all recorded now


async def test_preview_and_upcoming_say_when_quiet_hours_hold_an_email(
    services: Services, settings: Settings
) -> None:
    """Contract section 10: the hold is the policy's decision, so both tools show it."""
    local = LocalTimeData(services.engine)
    quiet = {"quiet_hours_start": time(21, 0), "quiet_hours_end": time(7, 0)}
    user = await local.digest_user("Europe/Paris", None, digest_time=time(22, 0), **quiet)
    at = datetime(2026, 6, 9, 20, 0, tzinfo=UTC)  # 22:00 in Paris (CEST)
    args = ["preview", "daily_digest", "--user", str(user), "--at", at.isoformat()]
    result = await notifier(args, service_env(settings))
    assert result.returncode == 0, result.stderr
    held = "held for quiet hours until 2026-06-10 07:00 CEST: the email goes then"
    assert f"X-Preview-Note: {held}" in result.stdout
    args = ["upcoming", "--user", str(user), "--at", at.isoformat(), "--hours", "24"]
    result = await notifier(args, service_env(settings))
    assert result.returncode == 0, result.stderr
    assert "held for quiet hours until 2026-06-10 07:00 CEST" in result.stdout
    assert "2026-06-10 05:00" in result.stdout  # 07:00 CEST, the first digest tick after it
