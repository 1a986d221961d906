"""``daily_digest`` and ``notes_reminders`` are jobs of the worker and of ``notifier run``."""

from __future__ import annotations

from notifier.config import Settings
from notifier.jobs.registry import tick_functions
from notifier.services import daily_digest, notes_reminders
from notifier.worker import cron_jobs, enabled_jobs


def test_both_jobs_are_registered_under_their_contract_names() -> None:
    ticks = tick_functions()
    assert ticks["daily_digest"] == daily_digest.run_tick  # the same job's bound tick
    assert ticks["notes_reminders"] == notes_reminders.run_tick


def test_both_run_every_minute_by_default_and_can_be_switched_off() -> None:
    settings = Settings()
    assert {"daily_digest", "notes_reminders"} <= set(enabled_jobs(settings))
    crons = {c.name: c for c in cron_jobs(settings)}
    for job in ("daily_digest", "notes_reminders"):
        cron = crons[f"cron:{job}"]
        assert (cron.minute, cron.hour, cron.day, cron.month, cron.weekday) == (
            None,
            None,
            None,
            None,
            None,
        )
    off = Settings(job_daily_digest_enabled=False)
    assert "daily_digest" not in enabled_jobs(off) and "notes_reminders" in enabled_jobs(off)
