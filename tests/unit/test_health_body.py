"""``/health``'s per-job lag and the age of the oldest notification still waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.health.evaluate import JobFacts, health_body

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _body(job: JobFacts) -> dict[str, object]:
    ok, body = health_body(
        redis_ok=True, database_ok=True, jobs=[job], queue_depth=0, now=NOW, worker_started=NOW
    )
    assert ok
    entries = body["jobs"]
    assert isinstance(entries, dict)
    entry = entries[job.name]
    assert isinstance(entry, dict)
    return entry


def test_lag_and_age_are_reported_in_seconds() -> None:
    job = JobFacts(
        "appointment_reminders",
        timedelta(minutes=1),
        NOW,
        NOW,
        "succeeded",
        NOW,
        last_lag=timedelta(seconds=2.5),
        oldest_unsent=NOW - timedelta(minutes=7),
    )
    entry = _body(job)
    assert entry["lag_seconds"] == 2.5
    assert entry["oldest_unsent_age_seconds"] == 420.0


def test_nothing_known_is_null_and_a_slot_claimed_ahead_is_not_negative() -> None:
    quiet = _body(JobFacts("cleanup", timedelta(days=1), None, None, None, None))
    assert quiet["lag_seconds"] is None and quiet["oldest_unsent_age_seconds"] is None
    ahead = JobFacts(
        "task_due_reminders",
        timedelta(minutes=5),
        NOW,
        NOW,
        "succeeded",
        NOW,
        oldest_unsent=NOW + timedelta(minutes=3),
    )
    assert _body(ahead)["oldest_unsent_age_seconds"] == 0.0
