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
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from notifier.app import Services
from notifier.db.host_relations import host_problems
from notifier.delivery import run_ledger
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
            await run_ledger.write(
                self._services.engine, run_ledger.open_statements(), self._values
            )
            self.opened = True

    async def close(self, counts: TickCounts, error: str | None) -> None:
        """Finishes the row; a row never opened is written whole, in one statement."""
        finished = run_ledger.finish_values(self._services.clock(), counts.as_dict(), error)
        values = {**self._values, **finished}
        engine = self._services.engine
        if self.opened:
            await run_ledger.write(engine, (run_ledger.finish_statement(),), values)
        else:
            await run_ledger.write(engine, run_ledger.whole_statements(), values)


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
        error = await tick_error(services, exc)
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


# PostgreSQL's codes for a relation or column that is not there or not of the type a statement
# needs: undefined column and table, datatype mismatch, undefined function (an operator on a
# wrong type), cannot coerce.
_HOST_SHAPE_CODES = frozenset({"42703", "42P01", "42804", "42883", "42846"})


async def tick_error(services: Services, exc: BaseException) -> str:
    """``describe_error``, or, when the fault is the shape of a host relation (a view without
    a column, a column of another type), the problems ``notifier check`` names for it."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _HOST_SHAPE_CODES:
        try:
            async with services.engine.connect() as conn:
                found = await host_problems(conn)
        except Exception:
            found = []
        if found:
            return "host relations: " + "; ".join(found)
    return describe_error(exc)


async def add_counts(services: Services, row_id: uuid.UUID, counts: TickCounts) -> None:
    """A finished batch adds its counts to its tick's row."""
    await run_ledger.add_counts(services.engine, row_id, counts.as_dict())


async def fail_run(services: Services, row_id: uuid.UUID, exc: BaseException) -> None:
    """A batch that raised marks its tick ``failed`` (the first error is kept)."""
    await run_ledger.fail_run(services.engine, row_id, await tick_error(services, exc))
