"""``arq notifier.worker.WorkerSettings`` is built from the environment on first access."""

from __future__ import annotations

import importlib
from datetime import UTC

import pytest


def test_worker_settings_carry_enabled_crons_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_APPOINTMENT_REMINDERS_SCHEDULE", "*/2 * * * *")
    worker = importlib.import_module("notifier.worker")
    settings = worker.WorkerSettings
    [job] = [c for c in settings.cron_jobs if c.name == "cron:appointment_reminders"]
    assert job.minute == set(range(0, 60, 2)) and job.second == 0
    assert job.keep_result_s >= 120 and job.max_tries == 1
    assert settings.timezone is UTC
    assert settings.health_check_key.startswith("arq:health:")


def test_a_disabled_job_has_no_cron(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_APPOINTMENT_REMINDERS_ENABLED", "false")
    worker = importlib.import_module("notifier.worker")
    names = [c.name for c in worker.WorkerSettings.cron_jobs]
    assert "cron:appointment_reminders" not in names
