"""Which stand-ins ``notifier dev`` uses, the settings it runs with, its banner and arq options."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from notifier.config import Settings
from notifier.dev.banner import BannerFacts, banner
from notifier.dev.fake_redis import open_fake_redis
from notifier.dev.runtime import dev_worker_settings
from notifier.dev.seed import build_demo
from notifier.dev.standins import (
    DEV_CRON_PREFIX,
    DEV_QUEUE_NAME,
    DEV_SCHEDULE,
    Standins,
    choose_standins,
    dev_settings,
)

ALL_STANDINS = Standins(database=True, redis=True, smtp=True)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment; these tests decide it themselves."""
    for name in ("DATABASE_URL", "REDIS_URL", "SMTP_HOST", "SMTP_PORT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("JOB_OVERDUE_SCANNER_SCHEDULE", raising=False)


def test_nothing_set_means_every_stand_in() -> None:
    assert choose_standins(Settings()) == ALL_STANDINS


def test_a_set_variable_replaces_its_stand_in_even_at_its_default_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")  # the default value
    monkeypatch.setenv("SMTP_HOST", "relay.example.com")
    assert choose_standins(Settings()) == Standins(database=True, redis=False, smtp=False)


def test_dev_settings_point_at_the_stand_ins(tmp_path: Path) -> None:
    settings = dev_settings(Settings(), ALL_STANDINS, data_dir=tmp_path, catcher_port=2525)
    assert settings.database_url.get_secret_value() == (
        f"sqlite+aiosqlite:///{tmp_path.resolve()}/notifier-dev.sqlite3"
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "127.0.0.1",
        2525,
        False,
    )
    assert settings.job_schedule("overdue_scanner") == DEV_SCHEDULE
    assert settings.job_schedule("cleanup") == Settings().job_schedule("cleanup")


def test_real_services_and_explicit_schedules_are_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secret@db.example/app")
    monkeypatch.setenv("SMTP_HOST", "relay.example.com")
    monkeypatch.setenv("JOB_OVERDUE_SCANNER_SCHEDULE", "*/15 * * * *")
    given = Settings()
    settings = dev_settings(given, choose_standins(given), data_dir=tmp_path, catcher_port=None)
    assert settings.database_url == given.database_url
    assert settings.smtp_host == "relay.example.com"
    assert settings.job_schedule("overdue_scanner") == "*/15 * * * *"


def test_worker_settings_on_fakeredis_run_every_cron_at_start() -> None:
    attributes = vars(dev_worker_settings(Settings(), open_fake_redis()))
    crons = attributes["cron_jobs"]
    assert crons and all(job.run_at_startup for job in crons)
    assert all(job.name.startswith("cron:") for job in crons)
    assert attributes["redis_pool"] is not None and "queue_name" not in attributes


def test_worker_settings_on_a_real_redis_use_keys_of_their_own() -> None:
    attributes = vars(dev_worker_settings(Settings(), None))
    assert attributes["queue_name"] == DEV_QUEUE_NAME
    assert all(job.name.startswith(DEV_CRON_PREFIX) for job in attributes["cron_jobs"])
    assert "redis_pool" not in attributes


def _facts(standins: Standins, database: str) -> BannerFacts:
    demo = build_demo(datetime(2026, 7, 1, 12, 0, 30, tzinfo=UTC))
    return BannerFacts(
        standins=standins,
        inbox_url="http://localhost:8025",
        catcher="127.0.0.1:1025",
        health_url="http://127.0.0.1:8080/health",
        database=database,
        smtp_relay="relay.example.com:587",
        jobs=["appointment_reminders"],
        demo=demo,
        expected=demo.expected,
    )


def test_banner_says_dev_mode_where_things_are_and_how_to_stop() -> None:
    text = banner(_facts(ALL_STANDINS, "/tmp/x/notifier-dev.sqlite3"))
    for fragment in (
        "DEV MODE",
        "http://localhost:8025",
        "http://127.0.0.1:8080/health",
        "Ctrl-C",
        "Asia/Kathmandu (UTC+05:45)",
        "Ana Ortiz <ana.ortiz@example.com>",
        "daily_digest",
    ):
        assert fragment in text


def test_banner_never_prints_a_real_database_url() -> None:
    secret = SecretStr("postgresql://u:secret@db.example/app").get_secret_value()
    real = Standins(database=False, redis=False, smtp=False)
    text = banner(_facts(real, secret.split(":", 1)[0]))
    assert "secret" not in text and "postgresql" in text
    assert "relay.example.com:587" in text and "localhost:8025" not in text
