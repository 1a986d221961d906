"""Scale-out: a worker's cron tick selects what is due and hands the sending to batch jobs.

The tick stays cheap (one indexed query and a few Redis writes), and the batches are ordinary
arq jobs on the worker's queue, so every worker attached to that Redis, on any machine, takes
a share of the sending. Rules:

* A tick with at most ``BATCH_SIZE`` ids sends them itself: no queue round trip for the
  common small tick.
* Otherwise batch ``i`` of the tick at ``T`` is enqueued as ``batch:<job>:<T unix ms>:<i>``
  and kept ``BATCH_KEEP_RESULT_SECONDS`` after it ran. arq refuses an id whose job or result
  still exists, so a tick that runs twice (arq issue #196) enqueues nothing new.
* The database claim in ``reminders_sent`` still decides who sends a slot: a batch run twice,
  or two batches that select one slot, send it once.
* A batch that fails or is lost leaves its slots unclaimed or released: the next tick inside
  the catch-up window selects them again. A batch interrupted by SIGTERM hands its claims back
  and arq runs it again (``BATCH_MAX_TRIES``).
* Counts go to the tick's one ``job_runs`` row (``runs.add_counts``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from notifier.app import Services
from notifier.batching import batched
from notifier.jobs.context import JobContext
from notifier.jobs.registry import batched_jobs
from notifier.jobs.runs import TickRow, add_counts, describe_error, fail_run
from notifier.services.batches import TickInstant
from notifier.services.counts import TickCounts

log = structlog.get_logger("notifier.fanout")
BATCH_FUNCTION = "process_batch"
BATCH_KEEP_RESULT_SECONDS = 600  # longer than any duplicate tick arrives late (~60 s)
BATCH_TIMEOUT_SECONDS = 300
BATCH_MAX_TRIES = 3


def batch_job_id(job: str, tick: datetime, index: int) -> str:
    """The deterministic id of batch ``index`` of ``job``'s tick at ``tick``."""
    return f"batch:{job}:{int(tick.timestamp() * 1000)}:{index}"


async def fan_out_tick(
    services: Services, redis: Any, job: str, now: datetime, run: tuple[TickRow, datetime]
) -> TickCounts:
    """The tick at ``now``: sends a small selection itself, else enqueues its batches.

    ``redis`` is arq's pool from the job context; its default queue is the worker's own.
    ``run`` is the tick's ``job_runs`` row, opened here once there is work (batches add their
    counts to it), and its scheduled instant (from arq's cron job id), which names the
    batches: a duplicate of the tick, run later, names them alike.
    """
    row, scheduled = run
    halves = batched_jobs()[job]
    ids = await halves.due_ids(services, now)
    if not ids:
        return TickCounts()
    await row.open()
    size = services.settings.batch_size
    if len(ids) <= size:
        return await halves.process_batch(services, ids, TickInstant(now, services.clock()))
    chunks = list(batched(ids, size))
    began = services.clock()
    enqueued = 0
    for index, chunk in enumerate(chunks):
        batch = {
            "job": job,
            "run": str(row.id),
            "instant": now.isoformat(),
            "began": began.isoformat(),
            "ids": _strings(chunk),
        }
        found = await redis.enqueue_job(
            BATCH_FUNCTION, batch, _job_id=batch_job_id(job, scheduled, index)
        )
        enqueued += found is not None
    log.info("batches_enqueued", ids=len(ids), batches=len(chunks), enqueued=enqueued)
    return TickCounts()


def _strings(ids: Sequence[uuid.UUID]) -> list[str]:
    """Ids as text: the job payload stays small and readable in Redis."""
    return [str(i) for i in ids]


async def process_batch(ctx: JobContext, batch: dict[str, Any]) -> dict[str, int]:
    """The arq batch job: one batch of a job's tick, its counts added to the tick's row.

    ``batch``: ``job``, ``run`` (the tick's ``job_runs`` id), ``instant`` and ``began`` (ISO
    instants, see ``TickInstant``) and ``ids``.
    """
    services: Services = ctx["services"]
    job, ids, run = batch["job"], batch["ids"], uuid.UUID(batch["run"])
    tick = TickInstant(
        datetime.fromisoformat(batch["instant"]), datetime.fromisoformat(batch["began"])
    )
    structlog.contextvars.bind_contextvars(job=job, batch=str(ctx.get("job_id")))
    try:
        counts = await batched_jobs()[job].process_batch(services, _uuids(ids), tick)
    except Exception as exc:
        log.error("batch_failed", ids=len(ids), error=describe_error(exc))
        await fail_run(services, run, exc)
        raise
    finally:
        structlog.contextvars.unbind_contextvars("job", "batch")
    await add_counts(services, run, counts)
    log.info("batch_finished", **counts.as_dict())
    return counts.as_dict()


def _uuids(ids: Sequence[str]) -> list[uuid.UUID]:
    return [uuid.UUID(i) for i in ids]
