"""The operator's commands as real processes: ``notifier run`` and ``notifier worker``."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select

from notifier.app import Services
from notifier.config import Settings
from notifier.db.schema import job_runs
from tests.support.data import Data
from tests.support.ledger import statuses
from tests.support.processes import run_notifier, service_env, start_notifier
from tests.support.servers import free_port
from tests.support.smtp import CaptureServer

AT = datetime(2026, 3, 8, 14, 0, tzinfo=UTC)


async def test_run_prints_the_json_summary_and_records_the_tick(
    services: Services, settings: Settings, data: Data, mailbox: CaptureServer
) -> None:
    user = await data.user()
    await data.appointment(user, AT + timedelta(minutes=60))
    result = await asyncio.to_thread(
        run_notifier,
        ["run", "appointment_reminders", "--at", "2026-03-08T14:00:00Z"],
        service_env(settings),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("selected", "sent", "skipped", "failed")} == {
        "selected": 1,
        "sent": 1,
        "skipped": 0,
        "failed": 0,
    }
    assert len(mailbox.messages) == 1
    async with services.engine.connect() as conn:
        [run] = (await conn.execute(select(job_runs))).mappings().all()
    assert (run["job_name"], run["status"], run["sent"]) == (
        "appointment_reminders",
        "succeeded",
        1,
    )
    assert run["scheduled_for"] == AT and run["finished_at"] is not None
    for line in result.stderr.splitlines():
        json.loads(line)  # logs are one JSON object a line, on stderr
    assert "pat@example.com" not in result.stderr


async def test_two_processes_running_the_same_tick_send_each_slot_once(
    services: Services, settings: Settings, data: Data, mailbox: CaptureServer
) -> None:
    users = [await data.user(email=f"u{i}@example.com") for i in range(10)]
    for i in range(200):
        await data.appointment(users[i % 10], AT + timedelta(minutes=60, seconds=-i))
    env = service_env(settings)
    args = ["run", "appointment_reminders", "--at", AT.isoformat()]
    first, second = await asyncio.gather(
        asyncio.to_thread(run_notifier, args, env), asyncio.to_thread(run_notifier, args, env)
    )
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    sent = json.loads(first.stdout)["sent"] + json.loads(second.stdout)["sent"]
    assert sent == 200
    ids = [m.parsed()["Message-ID"] for m in mailbox.messages]
    assert len(ids) == 200 and len(set(ids)) == 200
    assert await statuses(services.engine) == {"sent": 200}


async def test_a_bad_setting_stops_the_command_naming_the_variable(settings: Settings) -> None:
    env = service_env(settings, CATCH_UP_MINUTES="soon", JOB_CLEANUP_SCHEDULE="every day")
    result = await asyncio.to_thread(run_notifier, ["run", "appointment_reminders"], env)
    assert result.returncode != 0
    assert "CATCH_UP_MINUTES" in result.stderr and "JOB_CLEANUP_SCHEDULE" in result.stderr
    assert "postgresql" not in result.stderr  # secrets are never printed


async def _wait_for_run(
    services: Services, deadline: float, job: str = "appointment_reminders"
) -> dict[str, object]:
    while time.monotonic() < deadline:
        async with services.engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(job_runs).where(
                            job_runs.c.status == "succeeded", job_runs.c.job_name == job
                        )
                    )
                )
                .mappings()
                .all()
            )
        if rows:
            return dict(rows[0])
        await asyncio.sleep(0.5)
    raise AssertionError("the worker recorded no successful tick within its first minute")


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_the_worker_ticks_every_minute_sends_and_reports_health(
    services: Services, settings: Settings, data: Data, mailbox: CaptureServer, tmp_path: Path
) -> None:
    user = await data.user()
    await data.appointment(user, datetime.now(UTC) + timedelta(minutes=59))
    log = tmp_path / "worker.log"
    port = free_port()
    worker = start_notifier(["worker"], service_env(settings, HEALTH_PORT=str(port)), log)
    try:
        run = await _wait_for_run(services, time.monotonic() + 75)
        status, text = await _get(f"http://127.0.0.1:{port}/health")
        metrics_status, metrics = await _get(f"http://127.0.0.1:{port}/metrics")
    finally:
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 60)
    assert run["job_name"] == "appointment_reminders"
    scheduled = run["scheduled_for"]
    assert isinstance(scheduled, datetime) and scheduled.second == 0
    assert run["sent"] == 1 and len(mailbox.messages) == 1
    assert code == 0, log.read_text()
    body = json.loads(text)
    assert status == 200, body
    assert (body["status"], body["redis"], body["database"]) == ("ok", "ok", "ok")
    assert isinstance(body["queue_depth"], int)
    assert body["jobs"]["appointment_reminders"]["last_status"] == "succeeded"
    assert "postgresql" not in text and "redis://" not in text
    assert metrics_status == 200
    assert 'notifier_notifications_total{kind="appointment_reminder",outcome="sent"} 1.0' in metrics
