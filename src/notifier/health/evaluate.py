"""Decides healthy or not from facts gathered elsewhere; pure, so every rule is unit-tested.

Unhealthy (503) while Redis or the database is unreachable, or while an enabled job has not
succeeded for three of its intervals (counted from the worker's start when it never has).
Lag and the age of the oldest waiting notification are reported for people and dashboards,
not judged: a backlog that matters shows up as a job that stops succeeding, or in the alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

STALE_INTERVALS = 3
# Per priority lane (1 first): batches waiting, batches leased to a worker (``jobs.lanes``).
LaneDepths = dict[int, tuple[int, int]]


@dataclass(frozen=True)
class JobFacts:
    """What the database says about one job's ticks."""

    name: str
    interval: timedelta
    last_started: datetime | None
    last_finished: datetime | None
    last_status: str | None
    last_success: datetime | None
    # started_at - scheduled_for of the last scheduled (cron) tick: how late it began.
    last_lag: timedelta | None = None
    # When the oldest notification of the job's kind that is due and not sent fell due.
    oldest_unsent: datetime | None = None


def job_is_stale(job: JobFacts, now: datetime, worker_started: datetime) -> bool:
    """A freshly started worker gets three intervals of grace before its first success."""
    since = max(job.last_success or worker_started, worker_started)
    return now - since > STALE_INTERVALS * job.interval


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def _age(now: datetime, since: datetime | None) -> float | None:
    """Seconds since ``since``; never negative (a replay may claim a slot ahead of time)."""
    return _seconds(max(now - since, timedelta(0))) if since is not None else None


def job_entry(job: JobFacts, now: datetime, worker_started: datetime) -> dict[str, object]:
    return {
        "last_started": _iso(job.last_started),
        "last_finished": _iso(job.last_finished),
        "last_status": job.last_status,
        "last_success": _iso(job.last_success),
        "interval_seconds": int(job.interval.total_seconds()),
        "stale": job_is_stale(job, now, worker_started),
        "lag_seconds": _seconds(job.last_lag),
        "oldest_unsent_age_seconds": _age(now, job.oldest_unsent),
    }


def lane_entries(depths: LaneDepths | None) -> dict[str, dict[str, int]] | None:
    """``lane_depth`` of the body: JSON keys are strings, so lane 1 is ``"1"``."""
    if depths is None:
        return None
    return {str(lane): {"waiting": w, "leased": n} for lane, (w, n) in sorted(depths.items())}


def health_body(
    *,
    redis_ok: bool,
    database_ok: bool,
    jobs: list[JobFacts],
    queue_depth: int | None,
    now: datetime,
    worker_started: datetime,
    mode: str = "production",
    tz_database: dict[str, str] | None = None,
    lane_depth: LaneDepths | None = None,
) -> tuple[bool, dict[str, object]]:
    """``(healthy, body)``; the body is the same shape either way. ``tz_database`` (source and
    release of the zones this process reads) and ``lane_depth`` (the batches behind
    ``queue_depth``'s few tokens) are reported, never judged."""
    entries = {job.name: job_entry(job, now, worker_started) for job in jobs}
    healthy = redis_ok and database_ok and not any(e["stale"] for e in entries.values())
    body: dict[str, object] = {
        "status": "ok" if healthy else "unhealthy",
        "mode": mode,
        "redis": "ok" if redis_ok else "unreachable",
        "database": "ok" if database_ok else "unreachable",
        "queue_depth": queue_depth,
        "lane_depth": lane_entries(lane_depth),
        "jobs": entries,
        "tz_database": tz_database,
        "checked_at": now.isoformat(),
    }
    return healthy, body
