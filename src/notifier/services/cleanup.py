"""``cleanup``: gives up slots left pending past their window, then deletes old history.

Three steps per tick, each in batches of ``CLEANUP_BATCH_SIZE`` rows per statement
(``… WHERE id IN (SELECT id … LIMIT n)``), every batch its own short transaction, so the
job holds a few row locks for milliseconds and never blocks the sending ticks:

1. **Expire.** A ``pending`` row whose last chance passed (``rules.kind_horizons``) plus
   ``CLEANUP_PENDING_MARGIN_MINUTES`` becomes ``failed`` with ``…; window passed``, so nothing
   stays pending for ever (a crashed claim whose slot nobody selects again, say). Rows whose
   lease is still running belong to a live send and are left alone.
2. **Delete ledger rows** older than ``CLEANUP_RETENTION_DAYS`` (by ``created_at``) whose slot
   can no longer be selected by any tick from now on: older than the kind's ``reselect``
   horizon, and for ``task_overdue`` only once no open task still waits for its ``overdue``
   mark (the host may set a task back to ``open``; its old row is what keeps the notice
   single). ``pending`` rows are never deleted.
3. **Delete job_runs** started before ``CLEANUP_JOB_RUNS_RETENTION_DAYS``, job by job through
   ``ix_job_runs_job_name_started_at``.

Why no kind can email twice after this: a tick at instant ``t`` selects a slot only within
the kind's ``reselect`` horizon of it (appointment reminders and the once-a-day kinds: their
catch-up window; ``task_due``: while the due date is ahead), or through a lasting mark on the
host row (``task_reminders.sent`` and its 24-hour limit; ``tasks.status = 'overdue'``).
Cleanup's ``now`` is the earlier of the tick's instant and the wall clock, so
``notifier run cleanup --at <future>`` deletes nothing early. A *replay* of an instant older
than the retention (``notifier run JOB --at <long ago>``) can send again what it finds due:
the runbook says so.

Counts: ``failed`` the slots given up (step 1), ``skipped`` the rows deleted (steps 2 and 3),
``selected`` both together. Missed-window drops are counted in the metrics as they happen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.app import Services
from notifier.config import Settings
from notifier.db.inline_constants import inline
from notifier.db.schema import job_runs, reminders_sent, tasks
from notifier.rules.kind_horizons import FIRST_CLAIM, KindHorizon, fallback_horizon, kind_horizons
from notifier.rules.kinds import BY_NAME, JOB_NAMES
from notifier.services.counts import TickCounts
from notifier.services.dispatch import WINDOW_PASSED
from notifier.services.task_common import open_task

log = structlog.get_logger("notifier.cleanup")
EXPIRED_REASON = f"still pending after its last chance; {WINDOW_PASSED}"
OVERDUE_KIND = BY_NAME["task_overdue"].name
Step = Callable[[AsyncConnection], Awaitable[int]]


@dataclass(frozen=True)
class Limits:
    """The instants and sizes one cleanup tick works with."""

    now: datetime
    catch_up: timedelta
    margin: timedelta
    ledger_before: datetime
    runs_before: datetime
    batch: int

    @classmethod
    def from_settings(cls, settings: Settings, now: datetime) -> Limits:
        return cls(
            now=now,
            catch_up=timedelta(minutes=settings.catch_up_minutes),
            margin=timedelta(minutes=settings.cleanup_pending_margin_minutes),
            ledger_before=now - timedelta(days=settings.cleanup_retention_days),
            runs_before=now - timedelta(days=settings.cleanup_job_runs_retention_days),
            batch=settings.cleanup_batch_size,
        )


async def run_tick(services: Services, now: datetime) -> TickCounts:
    """One cleanup pass; ``now`` never later than the wall clock."""
    limits = Limits.from_settings(services.settings, min(now, services.clock()))
    expired = await expire_pending(services, limits)
    ledger_rows = await _repeat(services, limits.batch, lambda c: _delete_ledger(c, limits))
    runs = await delete_job_runs(services, limits)
    log.info("cleanup_done", expired=expired, ledger_deleted=ledger_rows, job_runs_deleted=runs)
    metrics = services.metrics.cleanup_rows
    metrics.labels("reminders_sent", "deleted").inc(ledger_rows)
    metrics.labels("job_runs", "deleted").inc(runs)
    return TickCounts(
        selected=expired + ledger_rows + runs, failed=expired, skipped=ledger_rows + runs
    )


async def _repeat(services: Services, batch: int, step: Step) -> int:
    """Runs ``step`` in its own transaction until a batch comes back short; the total."""
    total = 0
    while True:
        async with services.engine.begin() as conn:
            done = await step(conn)
        total += done
        if done < batch:
            return total


def _per_kind(
    limits: Limits, condition: Callable[[KindHorizon], ColumnElement[bool]]
) -> ColumnElement[bool]:
    """``condition`` of each known kind for its rows, the fallback's for any other kind."""
    rs = reminders_sent.c
    horizons = kind_horizons(limits.catch_up)
    known = [and_(rs.kind == kind, condition(h)) for kind, h in horizons.items()]
    other = and_(rs.kind.not_in(list(horizons)), condition(fallback_horizon(limits.catch_up)))
    return or_(*known, other)


def _lease_free(now: datetime) -> ColumnElement[bool]:
    """No live claim: a running send keeps its row until its lease runs out."""
    rs = reminders_sent.c
    return or_(rs.lease_until.is_(None), rs.lease_until <= now)


def past_last_chance(limits: Limits) -> ColumnElement[bool]:
    """Pending rows no tick can send any more, by a margin."""
    rs = reminders_sent.c

    def condition(h: KindHorizon) -> ColumnElement[bool]:
        anchor = rs.created_at if h.anchor == FIRST_CLAIM else rs.slot
        return anchor < limits.now - h.last_chance - limits.margin

    # A slot held for quiet hours is due again at its hold's end (contract section 10): its
    # last chance is that end's catch-up window, whatever its slot.
    held_over = or_(
        rs.held_until.is_(None), rs.held_until < limits.now - limits.catch_up - limits.margin
    )
    return and_(
        rs.status == inline("pending"),
        _lease_free(limits.now),
        held_over,
        _per_kind(limits, condition),
    )


async def expire_pending(services: Services, limits: Limits) -> int:
    """Step 1: pending rows past their last chance become failed; counted as missed-window."""
    expired: dict[str, int] = {}

    async def step(conn: AsyncConnection) -> int:
        kinds = await _expire_batch(conn, limits)
        for kind in kinds:
            expired[kind] = expired.get(kind, 0) + 1
        return len(kinds)

    total = await _repeat(services, limits.batch, step)
    for kind, count in expired.items():
        services.metrics.missed_window.labels(kind).inc(count)
        services.metrics.notifications.labels(kind, "failed").inc(count)
    services.metrics.cleanup_rows.labels("reminders_sent", "expired").inc(total)
    return total


async def _expire_batch(conn: AsyncConnection, limits: Limits) -> list[str]:
    rs = reminders_sent.c
    ids = select(rs.id).where(past_last_chance(limits)).limit(limits.batch)
    stmt = (
        update(reminders_sent)
        .where(rs.id.in_(ids.scalar_subquery()), rs.status == "pending", _lease_free(limits.now))
        .values(status="failed", last_error=EXPIRED_REASON, lease_until=None)
        .returning(rs.kind)
    )
    return list((await conn.execute(stmt)).scalars())


def _no_open_task_waits() -> ColumnElement[bool]:
    """For task_overdue rows: no open task of that id still lacks its ``overdue`` mark."""
    rs, t = reminders_sent.c, tasks.c
    waiting = exists().where(t.id == rs.entity_id, open_task(), t.status != inline("overdue"))
    return or_(rs.kind != OVERDUE_KIND, ~waiting)


def deletable_ledger_rows(limits: Limits) -> ColumnElement[bool]:
    """Finished rows past the retention whose slot no tick can select again."""
    rs = reminders_sent.c

    def condition(h: KindHorizon) -> ColumnElement[bool]:
        return rs.slot < limits.now - h.reselect

    return and_(
        rs.status != "pending",
        rs.created_at < limits.ledger_before,
        _per_kind(limits, condition),
        _no_open_task_waits(),
    )


async def _delete_ledger(conn: AsyncConnection, limits: Limits) -> int:
    rs = reminders_sent.c
    ids = select(rs.id).where(deletable_ledger_rows(limits)).limit(limits.batch)
    result = await conn.execute(delete(reminders_sent).where(rs.id.in_(ids.scalar_subquery())))
    return _rowcount(result)


async def delete_job_runs(services: Services, limits: Limits) -> int:
    """Step 3, job by job so each batch is one range of the (job_name, started_at) index."""
    total = 0
    for job in JOB_NAMES:
        total += await _repeat(
            services, limits.batch, partial(_delete_runs, job=job, limits=limits)
        )
    return total


async def _delete_runs(conn: AsyncConnection, *, job: str, limits: Limits) -> int:
    r = job_runs.c
    ids = (
        select(r.id).where(r.job_name == job, r.started_at < limits.runs_before).limit(limits.batch)
    )
    result = await conn.execute(delete(job_runs).where(r.id.in_(ids.scalar_subquery())))
    return _rowcount(result)


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)
