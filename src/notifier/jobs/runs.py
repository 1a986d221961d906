"""``job_runs``: one row per tick, written ``running`` at start and closed at the end.

The row is closed in a ``finally`` so a tick that raises is ``failed``, never ``running``
forever; a process killed outright leaves ``running``, which health reads as stale.

A tick fanned out over arq batch jobs (``jobs.fanout``) keeps its one row: the tick closes it
once its batches are enqueued, and each batch adds its counts to it with an atomic increment
(``add_counts``) when it finishes, or marks it ``failed`` if it raises. Counts are therefore
always written as increments, never set, so a fast batch on another worker that finishes
before its tick closes the row is never overwritten.

A fanned-out tick opens its row only once it has found work (``TickRow.open``, before its
first claim or enqueue); a tick that found nothing writes its row once, already finished.
Most ticks find nothing, and the second statement was a fifth of their cost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import structlog
from sqlalchemy import (
    Executable,
    Insert,
    Integer,
    Text,
    Update,
    bindparam,
    case,
    func,
    insert,
    update,
)

from notifier.app import Services
from notifier.db.engine import autocommit
from notifier.db.schema import job_runs
from notifier.jobs.registry import tick_functions
from notifier.services.counts import TickCounts

log = structlog.get_logger("notifier.jobs")
# Longer than arq's tick timeout (worker.CRON_TIMEOUT_SECONDS): no live tick is this old.
ABANDONED_AFTER = timedelta(minutes=11)


class UnknownJobError(LookupError):
    """A job name this build does not know."""


class TickRow:
    """One tick's ``job_runs`` row: opened ``running`` when the tick has work, then closed."""

    def __init__(
        self, services: Services, job: str, run_id: str | None, scheduled_for: datetime
    ) -> None:
        self.id = uuid.uuid4()
        self._services = services
        wall = services.clock()
        self._values: dict[str, object] = {
            "p_row_id": self.id,
            "p_job": job,
            "p_run_id": run_id or f"{job}:{scheduled_for.isoformat()}:{self.id.hex[:8]}",
            "p_scheduled_for": scheduled_for,
            "p_started": wall,
            "p_abandoned_before": wall - ABANDONED_AFTER,
        }
        self.opened = False

    @property
    def run_id(self) -> str:
        return str(self._values["p_run_id"])

    async def open(self) -> None:
        """Writes the row ``running`` (once); call it before the tick's first side effect."""
        if not self.opened:
            await _write(self._services, _open_statements(), self._values)
            self.opened = True

    async def close(self, counts: TickCounts, error: str | None) -> None:
        """Finishes the row; a row never opened is written whole, in one statement."""
        values = {**self._values, **_finish_values(self._services, counts, error)}
        if self.opened:
            await _write(self._services, (_finish_statement(),), values)
        else:
            await _write(self._services, _whole_statements(), values)


# Runs a tick given its row; it calls ``row.open()`` before claiming or enqueueing anything.
TickRunner = Callable[[TickRow], Awaitable[TickCounts]]


async def run_recorded(
    services: Services,
    job: str,
    now: datetime,
    run_id: str | None = None,
    scheduled_for: datetime | None = None,
    *,
    runner: TickRunner | None = None,
) -> TickCounts:
    """Runs one tick of ``job`` for instant ``now`` and records it in ``job_runs``.

    ``runner`` replaces the inline tick (the worker's fan-out). The inline tick (``notifier
    run``) opens its row at once: it selects and sends in one go.
    """
    tick = tick_functions().get(job)
    if tick is None:
        raise UnknownJobError(job)
    row = TickRow(services, job, run_id, scheduled_for or now)
    if runner is None:
        await row.open()
    structlog.contextvars.bind_contextvars(job=job, run_id=row.run_id)
    counts = TickCounts()
    error: str | None = None
    started = time.monotonic()
    try:
        counts = await (runner(row) if runner else tick(services, now))
        return counts
    except Exception as exc:
        error = describe_error(exc)
        log.error("tick_failed", error=error)  # no traceback: frames can hold row data
        raise
    finally:
        services.metrics.tick_seconds.labels(job).observe(time.monotonic() - started)
        await row.close(counts, error)
        services.metrics.ticks.labels(job, "failed" if error else "succeeded").inc()
        if error is None:
            services.metrics.last_success.labels(job).set(services.clock().timestamp())
        log.info("tick_finished", status="failed" if error else "succeeded", **counts.as_dict())
        structlog.contextvars.unbind_contextvars("job", "run_id")


def describe_error(exc: BaseException) -> str:
    """The exception's type and first line; SQL parameters (user data) never follow it."""
    first = str(exc).split("\n", 1)[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


async def _write(services: Services, statements: Sequence[Executable], values: Any) -> None:
    """One autocommit statement on PostgreSQL; SQLite, lacking UPDATE inside WITH, runs the
    closing of abandoned rows and the insert as two (``statements[1:]``)."""
    async with autocommit(services.engine) as conn:
        if conn.dialect.name == "postgresql" or len(statements) == 1:
            await conn.execute(statements[0], values)
        else:
            for stmt in statements[1:]:
                await conn.execute(stmt, values)


# The statements of every tick are built once, with parameters: building and hashing a new
# statement per tick cost ~0.5 ms of the ~5 ms a tick with nothing due may take. Parameter
# names start with ``p_``: a name equal to a column's would join an UPDATE's SET list.
@cache
def _close_abandoned() -> Update:
    """Rows of this job left ``running`` by a process that died (older than any live tick)."""
    c = job_runs.c
    return (
        update(job_runs)
        .where(
            c.job_name == bindparam("p_job"),
            c.status == "running",
            c.started_at < bindparam("p_abandoned_before"),
        )
        .values(
            status="failed",
            finished_at=bindparam("p_started"),
            error="abandoned: the process running it died",
        )
    )


def _row(**finished: object) -> Insert:
    return insert(job_runs).values(
        id=bindparam("p_row_id"),
        job_name=bindparam("p_job"),
        run_id=bindparam("p_run_id"),
        scheduled_for=bindparam("p_scheduled_for"),
        started_at=bindparam("p_started"),
        **finished,
    )


@cache
def _open_statements() -> tuple[Executable, Update, Insert]:
    """(PostgreSQL's one statement, then SQLite's two): close abandoned rows, insert ours."""
    return _closing_abandoned(_row(status="running"))


@cache
def _whole_statements() -> tuple[Executable, Update, Insert]:
    """As ``_open_statements``, the row inserted already finished, with its counts."""
    counts = {name: bindparam(f"p_{name}", type_=Integer) for name in _COUNTED}
    row = _row(
        status=bindparam("p_status", type_=Text),
        finished_at=bindparam("p_wall"),
        error=bindparam("p_error", type_=Text),
        **counts,
    )
    return _closing_abandoned(row)


def _closing_abandoned(row: Insert) -> tuple[Executable, Update, Insert]:
    """(PostgreSQL's one statement, then SQLite's two): close abandoned rows, insert ``row``."""
    return row.add_cte(_close_abandoned().cte("abandoned")), _close_abandoned(), row


def _finish_values(services: Services, counts: TickCounts, error: str | None) -> dict[str, object]:
    return {
        "p_wall": services.clock(),
        "p_error": error,
        "p_status": "failed" if error else "succeeded",
        **_counts(counts),
    }


@cache
def _finish_statement() -> Update:
    c = job_runs.c
    return (
        update(job_runs)
        .where(c.id == bindparam("p_row_id"))
        .values(
            finished_at=bindparam("p_wall"),
            # A batch of this tick may have failed already (fan-out): never undo that.
            status=case((c.status == "failed", "failed"), else_=bindparam("p_status", type_=Text)),
            error=func.coalesce(c.error, bindparam("p_error", type_=Text)),
            **_increments(),
        )
    )


_COUNTED = ("selected", "sent", "skipped", "failed")


def _counts(counts: TickCounts) -> dict[str, int]:
    return {f"p_{name}": getattr(counts, name) for name in _COUNTED}


def _increments() -> dict[str, object]:
    """Counts added to the row, never set: batches on other workers add theirs too."""
    c = job_runs.c
    return {name: getattr(c, name) + bindparam(f"p_{name}", type_=Integer) for name in _COUNTED}


async def add_counts(services: Services, row_id: uuid.UUID, counts: TickCounts) -> None:
    """A finished batch adds its counts to its tick's row (one atomic UPDATE)."""
    async with autocommit(services.engine) as conn:
        stmt = (
            update(job_runs).where(job_runs.c.id == bindparam("p_row_id")).values(**_increments())
        )
        await conn.execute(stmt, {"p_row_id": row_id, **_counts(counts)})


async def fail_run(services: Services, row_id: uuid.UUID, exc: BaseException) -> None:
    """A batch that raised marks its tick ``failed`` (the first error is kept)."""
    async with autocommit(services.engine) as conn:
        await conn.execute(
            update(job_runs)
            .where(job_runs.c.id == row_id)
            .values(status="failed", error=func.coalesce(job_runs.c.error, describe_error(exc)))
        )
