"""The four task jobs are registered, scheduled, switchable, recorded, and run on SQLite too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.schema import job_runs, metadata
from notifier.jobs.registry import tick_functions
from notifier.jobs.runs import run_recorded
from notifier.worker import cron_jobs
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SCHEDULES = {
    "task_due_reminders": set(range(0, 60, 5)),
    "task_reminders": None,
    "overdue_scanner": {0, 15, 30, 45},
    "recurring_tasks": set(range(0, 60, 5)),
}


def test_each_task_job_has_its_default_schedule_and_switch() -> None:
    settings = Settings()
    jobs = {c.name: c for c in cron_jobs(settings)}
    for job, minutes in SCHEDULES.items():
        assert job in tick_functions()
        assert jobs[f"cron:{job}"].minute == minutes
    off = Settings(job_overdue_scanner_enabled=False, job_task_reminders_schedule="*/2 * * * *")
    jobs = {c.name: c for c in cron_jobs(off)}
    assert "cron:overdue_scanner" not in jobs
    assert jobs["cron:task_reminders"].minute == set(range(0, 60, 2))


@pytest.mark.parametrize("job", list(SCHEDULES))
async def test_a_tick_of_each_job_is_recorded_in_job_runs(
    services: Services, mailbox: CaptureServer, job: str
) -> None:
    data = TaskData(services.engine)
    user = await data.user()
    task = await data.task(user, NOW - timedelta(hours=1))
    await data.task(user, NOW + timedelta(hours=1))
    await data.reminder(task, user, NOW)
    await data.task(
        user,
        NOW - timedelta(days=1),
        is_recurring=True,
        recurrence_type="daily",
        completed=True,
        status="completed",
    )
    counts = await run_recorded(services, job, NOW)
    assert (counts.selected, counts.sent) == (1, 1)
    async with services.engine.connect() as conn:
        [run] = (await conn.execute(select(job_runs))).mappings().all()
    assert (run["job_name"], run["status"], run["sent"]) == (job, "succeeded", 1)
    assert run["scheduled_for"] == NOW


async def test_the_three_email_jobs_run_on_sqlite_too(
    settings: Settings, mailbox: CaptureServer, tmp_path: Path
) -> None:
    url = SecretStr(f"sqlite:///{tmp_path / 'notifier.db'}")
    lite = open_services(settings.model_copy(update={"database_url": url}), lambda: NOW)
    try:
        async with lite.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        data = TaskData(lite.engine)
        user = await data.user()
        soon = await data.task(user, NOW + timedelta(hours=2))
        late = await data.task(user, NOW - timedelta(hours=2))
        await data.reminder(soon, user, NOW)
        for job in ("task_due_reminders", "task_reminders", "overdue_scanner"):
            assert (await tick_functions()[job](lite, NOW)).sent == 1
            assert (await tick_functions()[job](lite, NOW)).selected == 0
        assert (await data.get_task(late))["status"] == "overdue"
    finally:
        await close_services(lite)
    assert sorted(m.kind for m in mailbox.messages) == ["task_due", "task_overdue", "task_reminder"]
