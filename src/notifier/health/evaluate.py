"""Decides healthy or not from facts gathered elsewhere; pure, so every rule is unit-tested.

Unhealthy (503) while Redis or the database is unreachable, or while an enabled job has not
succeeded for three of its intervals (counted from the worker's start when it never has).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

STALE_INTERVALS = 3


@dataclass(frozen=True)
class JobFacts:
    """What the database says about one job's ticks."""

    name: str
    interval: timedelta
    last_started: datetime | None
    last_finished: datetime | None
    last_status: str | None
    last_success: datetime | None


def job_is_stale(job: JobFacts, now: datetime, worker_started: datetime) -> bool:
    """A freshly started worker gets three intervals of grace before its first success."""
    since = max(job.last_success or worker_started, worker_started)
    return now - since > STALE_INTERVALS * job.interval


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_entry(job: JobFacts, now: datetime, worker_started: datetime) -> dict[str, object]:
    return {
        "last_started": _iso(job.last_started),
        "last_finished": _iso(job.last_finished),
        "last_status": job.last_status,
        "last_success": _iso(job.last_success),
        "interval_seconds": int(job.interval.total_seconds()),
        "stale": job_is_stale(job, now, worker_started),
    }


def health_body(
    *,
    redis_ok: bool,
    database_ok: bool,
    jobs: list[JobFacts],
    queue_depth: int | None,
    now: datetime,
    worker_started: datetime,
    mode: str = "production",
) -> tuple[bool, dict[str, object]]:
    """``(healthy, body)``; the body is the same shape either way."""
    entries = {job.name: job_entry(job, now, worker_started) for job in jobs}
    healthy = redis_ok and database_ok and not any(e["stale"] for e in entries.values())
    body: dict[str, object] = {
        "status": "ok" if healthy else "unhealthy",
        "mode": mode,
        "redis": "ok" if redis_ok else "unreachable",
        "database": "ok" if database_ok else "unreachable",
        "queue_depth": queue_depth,
        "jobs": entries,
        "checked_at": now.isoformat(),
    }
    return healthy, body
