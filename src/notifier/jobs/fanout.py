"""Scale-out: a worker's cron tick selects what is due and hands the sending to batches.

The tick stays cheap (one indexed query and a few Redis writes), and the batches wait in the
priority lanes of ``jobs.lanes``, taken by small arq jobs ("tokens") on the worker's queue, so
every worker attached to that Redis, on any machine, takes a share of the sending, the most
urgent batch first. Rules:

* A tick with at most ``BATCH_SIZE`` ids sends them itself: no queue round trip for the
  common small tick.
* Otherwise batch ``i`` of the tick at ``T`` is put in its job's lane as
  ``batch:<job>:<T unix ms>:<i>``, its payload kept for the catch-up window and the lanes'
  longest head start; a tick that runs twice (arq issue #196) adds nothing new. The tick
  enqueues up to half ``WORKER_MAX_JOBS`` tokens; each takes the best-ranked batch, runs it and
  enqueues its successor while batches wait.
* The database claim in ``reminders_sent`` still decides who sends a slot: a batch run twice,
  or two batches that select one slot, send it once.
* A batch that fails or is lost leaves its slots unclaimed or released: the next tick inside
  the catch-up window selects them again. A batch interrupted by SIGTERM hands its claims back
  and goes back to its lane; one whose worker died is taken again once its lease runs out.
* Counts go to the tick's one ``job_runs`` row (``runs.add_counts``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from notifier.app import Services
from notifier.batching import batched
from notifier.jobs import lanes
from notifier.jobs.context import JobContext
from notifier.jobs.registry import batched_jobs
from notifier.jobs.runs import TickRow, add_counts, describe_error, fail_run
from notifier.services.batches import TickInstant
from notifier.services.counts import TickCounts

log = structlog.get_logger("notifier.fanout")
BATCH_FUNCTION = lanes.TAKER_FUNCTION
LEGACY_BATCH_FUNCTION = "process_batch"  # one arq job per batch, before the lanes
BATCH_TIMEOUT_SECONDS = 300
BATCH_MAX_TRIES = 3
# A taken batch not done by then (its worker died) is taken again by the next token.
BATCH_LEASE_MS = (BATCH_TIMEOUT_SECONDS + 30) * 1000


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
    async with selection_turn(services, job):
        ids = await halves.due_ids(services, now)
    if not ids:
        return TickCounts()
    await row.open()
    size = services.settings.batch_size
    if len(ids) <= size:
        return await halves.process_batch(services, ids, TickInstant(now, services.clock()))
    chunks = list(batched(ids, size))
    began = services.clock()
    keys = lanes.LaneKeys.for_queue(redis.default_queue_name)
    base: dict[str, Any] = {
        "job": job,
        "run": str(row.id),
        "instant": now.isoformat(),
        "began": began.isoformat(),
        "rank": lanes.rank(int(began.timestamp() * 1000), lanes.lane_of(job)),
    }
    ttl = _payload_ttl(services)
    added = 0
    for index, chunk in enumerate(chunks):
        batch = {**base, "ids": _strings(chunk)}
        added += await lanes.put(redis, keys, batch_job_id(job, scheduled, index), batch, ttl)
    tokens = min(added, takers_per_tick(services.settings.worker_max_jobs))
    await lanes.start_tokens(redis, tokens, int(began.timestamp() * 1000))
    log.info("batches_enqueued", ids=len(ids), batches=len(chunks), enqueued=added, tokens=tokens)
    return TickCounts()


def selection_turn(services: Services, job: str) -> asyncio.Lock:
    """The lock a tick of ``job`` selects under: ticks of one job in one process take turns.

    Side by side they would read the same rows: after a reset (tz data, a bulk rewrite) each
    reviewed the same 400,000 never-computed rows, and ten of them at once (a backlog, a
    duplicate cron tick, the benchmark's rounds) held the probes' pool minutes and starved
    the event loop. In turn, the later one finds the rows moved and reads little. Taken
    before any connection, so a tick waiting holds none."""
    return services.selecting.setdefault(job, asyncio.Lock())


def takers_per_tick(max_jobs: int) -> int:
    """Half a worker's job slots: the other half stays free for cron ticks (a reminder tick
    starts at once, not when a batch ends), and fewer batches at once leave the event loop
    readier for the reminders' sends."""
    return max(1, max_jobs // 2)


def _payload_ttl(services: Services) -> int:
    """How long a batch may wait: its window, plus the longest head start a lane may give."""
    head_start = max(lanes.LANE_HEAD_START_SECONDS.values())
    return int(services.settings.catch_up_minutes * 60 + head_start)


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


async def take_batch(ctx: JobContext) -> dict[str, int]:
    """The arq token: takes the most urgent batch of the lanes, runs it, starts a successor.

    Cancelled (the worker stopping), it gives the batch back at its rank, and arq runs the
    token again; a batch that failed is not retried here (its slots are released or
    unclaimed, and the next tick selects them again).
    """
    redis = ctx["redis"]
    keys = lanes.LaneKeys.for_queue(redis.default_queue_name)
    taken = await lanes.take(redis, keys, BATCH_LEASE_MS)
    if taken is None:
        return {}
    batch_id, batch = taken
    try:
        return await process_batch(ctx, batch)
    except asyncio.CancelledError:
        await lanes.give_back(redis, keys, batch_id, batch)
        raise
    finally:
        await _finish_token(ctx, keys, batch_id)


async def _finish_token(ctx: JobContext, keys: lanes.LaneKeys, batch_id: str) -> None:
    """Releases the batch's lease and, while batches wait, enqueues the token's successor."""
    redis = ctx["redis"]
    await lanes.done(redis, keys, batch_id)
    if await lanes.waiting(redis, keys):
        await lanes.start_tokens(redis, 1, int(ctx["services"].clock().timestamp() * 1000))
