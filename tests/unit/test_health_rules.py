"""When ``/health`` says 503: a dependency down, or a job without success for three intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.health.evaluate import JobFacts, health_body
from notifier.health.probe import cron_interval

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _job(last_success: datetime | None, interval: timedelta = MINUTE) -> JobFacts:
    return JobFacts(
        "appointment_reminders", interval, last_success, last_success, "succeeded", last_success
    )


@pytest.mark.parametrize(
    ("redis_ok", "db_ok", "last_success", "started", "healthy"),
    [
        (True, True, NOW - 2 * MINUTE, NOW - timedelta(hours=1), True),
        (True, True, NOW - 4 * MINUTE, NOW - timedelta(hours=1), False),
        (False, True, NOW, NOW, False),
        (True, False, NOW, NOW, False),
        (True, True, None, NOW - 2 * MINUTE, True),  # grace after start
        (True, True, None, NOW - 4 * MINUTE, False),
        (True, True, NOW - timedelta(days=1), NOW - MINUTE, True),  # restarted just now
    ],
)
def test_health_rules(
    redis_ok: bool, db_ok: bool, last_success: datetime | None, started: datetime, healthy: bool
) -> None:
    ok, body = health_body(
        redis_ok=redis_ok,
        database_ok=db_ok,
        jobs=[_job(last_success)],
        queue_depth=0,
        now=NOW,
        worker_started=started,
    )
    assert ok is healthy
    assert body["status"] == ("ok" if healthy else "unhealthy")
    assert set(body) >= {"status", "redis", "database", "jobs", "queue_depth"}


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("* * * * *", MINUTE),
        ("*/5 * * * *", 5 * MINUTE),
        ("*/15 * * * *", 15 * MINUTE),
        ("17 3 * * *", timedelta(days=1)),
    ],
)
def test_cron_interval(expression: str, interval: timedelta) -> None:
    assert cron_interval(expression, NOW) == interval
