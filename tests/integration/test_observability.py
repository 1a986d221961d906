"""``/health`` and ``/metrics`` from the real server after real ticks, checked with promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import insert

from notifier.app import Services
from notifier.config import Settings
from notifier.db.schema import reminders_sent
from notifier.health.server import HealthContext, start_health_server
from notifier.jobs.runs import run_recorded
from tests.support.clock import SetClock, clocked_services
from tests.support.ledger import ledger_rows
from tests.support.servers import free_port
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData, smtp_down

AT = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus"
SCHEDULES = {
    "appointment_reminders": "* * * * *",
    "task_due_reminders": "*/5 * * * *",
    "task_reminders": "* * * * *",
    "cleanup": "17 3 * * *",
}


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real Prometheus tool (scripts/install-promtool); its absence fails the test."""
    binary = shutil.which("promtool")
    assert binary, "promtool not found: run scripts/install-promtool"
    return subprocess.run(
        [binary, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
async def server(
    settings: Settings, redis_server: object
) -> AsyncIterator[tuple[Services, SetClock, str]]:
    """Services on a settable clock with the health server of a worker started at ``AT``."""
    clock = SetClock(AT)
    async with clocked_services(settings, clock) as services:
        probe = Redis.from_url(settings.redis_url.get_secret_value())
        ctx = HealthContext(services.engine, probe, services.metrics, SCHEDULES, clock, AT)
        port = free_port()
        runner = await start_health_server(ctx, "127.0.0.1", port)
        try:
            yield services, clock, f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()
            await probe.aclose()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_health_reports_each_jobs_lag_and_oldest_waiting_notification(
    server: tuple[Services, SetClock, str],
) -> None:
    services, clock, base = server
    clock.at = AT + timedelta(seconds=3)  # the cron tick of AT starts 3 s late
    await run_recorded(
        services,
        "appointment_reminders",
        AT,
        run_id=f"cron:appointment_reminders:{int(AT.timestamp() * 1000)}",
        scheduled_for=AT,
    )
    await run_recorded(services, "task_reminders", AT - timedelta(hours=5))  # a manual replay
    await _pending(services, "appointment_reminder", slot=AT - timedelta(minutes=5))
    await _pending(services, "appointment_reminder", slot=AT - timedelta(minutes=2))
    # task_due's slot is the due date, a day ahead: its age counts from the claim.
    await _pending(
        services, "task_due", slot=AT + timedelta(hours=20), created=AT - timedelta(seconds=60)
    )

    status, text = await get(f"{base}/health")
    body = json.loads(text)
    assert status == 200, body
    jobs = body["jobs"]
    assert jobs["appointment_reminders"]["lag_seconds"] == 3.0
    assert jobs["appointment_reminders"]["oldest_unsent_age_seconds"] == 303.0
    assert jobs["task_due_reminders"]["oldest_unsent_age_seconds"] == 63.0
    assert jobs["task_reminders"]["lag_seconds"] is None  # no cron tick yet, only a replay
    assert jobs["task_reminders"]["oldest_unsent_age_seconds"] is None
    assert jobs["cleanup"]["oldest_unsent_age_seconds"] is None  # sends nothing
    assert {"last_started", "last_finished", "last_status"} <= set(jobs["appointment_reminders"])


async def test_metrics_after_real_ticks_pass_promtool_and_count_catch_ups_and_drops(
    server: tuple[Services, SetClock, str], settings: Settings, mailbox: CaptureServer
) -> None:
    services, _, base = server
    data = TaskData(services.engine)
    user = await data.user()
    await data.appointment(user, AT + timedelta(minutes=60))  # due right at AT
    await data.appointment(user, AT + timedelta(minutes=50))  # due 10 minutes ago: a catch-up
    task = await data.task(user, AT + timedelta(days=2))
    await data.reminder(task, user, AT - timedelta(hours=25))  # past its 24 hours: dropped
    await run_recorded(services, "appointment_reminders", AT)
    await run_recorded(services, "task_reminders", AT)
    assert len(mailbox.messages) == 2

    status, text = await get(f"{base}/metrics")
    assert status == 200
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    samples = _samples(text)
    assert samples['notifier_notifications_total{kind="appointment_reminder",outcome="sent"}'] == 2
    assert samples['notifier_catch_up_sends_total{kind="appointment_reminder"}'] == 1
    assert samples['notifier_missed_window_drops_total{kind="task_reminder"}'] == 1
    assert samples['notifier_ticks_total{job_name="task_reminders",status="succeeded"}'] == 1
    assert samples['notifier_job_interval_seconds{job_name="cleanup"}'] == 86400
    assert samples['notifier_tick_duration_seconds_count{job_name="appointment_reminders"}'] == 1
    assert samples["notifier_smtp_send_duration_seconds_count"] == 2
    assert 'notifier_job_last_success_timestamp_seconds{job_name="task_reminders"}' in samples
    assert "notifier_queue_depth" in samples


def test_promtool_rejects_a_broken_exposition() -> None:
    """The check above can fail: promtool refuses malformed metrics text."""
    broken = "# TYPE notifier_x counter\nnotifier_x{kind=unquoted} 1\n"
    assert promtool("check", "metrics", stdin=broken).returncode != 0


async def test_a_send_given_up_when_its_window_passes_is_a_missed_window_drop(
    services: Services, settings: Settings
) -> None:
    data = TaskData(services.engine)
    user = await data.user()
    task = await data.task(user, AT + timedelta(days=2))
    # Exactly 24 hours late still sends, with no time left for a retry.
    await data.reminder(task, user, AT - timedelta(hours=24))
    async with smtp_down(settings) as down:
        counts = await run_recorded(down, "task_reminders", AT)
        drops = down.metrics.registry.get_sample_value(
            "notifier_missed_window_drops_total", {"kind": "task_reminder"}
        )
    assert counts.failed == 1 and drops == 1.0
    [row] = await ledger_rows(services.engine, "task_reminder")
    assert row["status"] == "failed" and row["last_error"].endswith("; window passed")


def test_the_shipped_alert_rules_are_valid_and_fire_when_they_should() -> None:
    checked = promtool("check", "rules", str(RULES / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(RULES / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


async def test_every_metric_the_alerts_use_is_exported(
    server: tuple[Services, SetClock, str],
) -> None:
    services, _, base = server
    for job in ("cleanup", "appointment_reminders"):
        await run_recorded(services, job, AT)
    # Labelled counters appear with their first event; make one of each.
    services.metrics.notifications.labels("daily_digest", "sent")
    services.metrics.catch_up_sends.labels("daily_digest")
    services.metrics.missed_window.labels("daily_digest")
    _, text = await get(f"{base}/metrics")
    exported = {name.split("{")[0] for name in _samples(text)}
    used = set(re.findall(r"\bnotifier_[a-z_]+", (RULES / "alerts.yml").read_text()))
    assert used and used <= exported, used - exported


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value of every sample line."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


async def _pending(
    services: Services, kind: str, *, slot: datetime, created: datetime | None = None
) -> None:
    async with services.engine.begin() as conn:
        await conn.execute(
            insert(reminders_sent).values(
                id=uuid.uuid4(),
                kind=kind,
                entity_id=uuid.uuid4(),
                user_id=uuid.uuid4(),
                slot=slot,
                status="pending",
                attempts=1,
                created_at=created or slot,
            )
        )
