"""Scale-out: a worker's tick puts its batches in the lanes, taken by arq jobs any worker runs.

The tick runs as arq runs it (the job function with arq's context); the batches run in real
arq workers (in-process, burst mode) on a queue of the test's own, against the real Redis
and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from arq import ArqRedis, create_pool
from arq.worker import Worker
from sqlalchemy import event, select

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.schema import job_runs
from notifier.jobs.arq_jobs import job_function
from notifier.jobs.context import JobContext
from notifier.jobs.lanes import LaneKeys
from notifier.rules.local_time_slots import NOT_COMPUTED
from notifier.worker import batch_function, redis_settings
from tests.support.data import Data
from tests.support.local_time_data import LocalTimeData
from tests.support.smtp import CaptureServer

JOB = "appointment_reminders"
BATCH = 3


@pytest.fixture
async def batch_services(settings: Settings) -> AsyncIterator[Services]:
    svc = open_services(settings.model_copy(update={"batch_size": BATCH}), _now)
    yield svc
    await close_services(svc)


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[ArqRedis]:
    """An arq pool whose default queue is this test's own."""
    name = f"arq:test-fanout-{uuid.uuid4().hex[:8]}"
    pool = await create_pool(
        redis_settings(settings.redis_url.get_secret_value()), default_queue_name=name
    )
    yield pool
    keys = LaneKeys.for_queue(name)
    await pool.delete(name, keys.ready, keys.running)
    await pool.aclose()


def _now() -> datetime:
    return datetime.now(UTC)


async def _due(data: Data, count: int) -> None:
    """``count`` appointments whose 60-minute reminder fell due a second ago."""
    user = await data.user()
    start = _now() + timedelta(minutes=60) - timedelta(seconds=1)
    for i in range(count):
        await data.appointment(user, start - timedelta(milliseconds=i))


async def _tick(services: Services, pool: ArqRedis, tick_id: str) -> dict[str, int]:
    """One cron tick, as arq calls it (its pool and the cron job id in the context)."""
    ctx: JobContext = {"services": services, "redis": pool, "job_id": tick_id}
    return await job_function(JOB)(ctx)


def _worker(services: Services, pool: ArqRedis) -> Worker:
    return Worker(
        functions=[batch_function()],
        redis_pool=pool,
        queue_name=pool.default_queue_name,
        burst=True,
        poll_delay=0.01,
        max_jobs=1,
        handle_signals=False,
        ctx={"services": services},
    )


async def _queued(pool: ArqRedis) -> list[str]:
    return sorted(j.decode() for j in await pool.zrange(pool.default_queue_name, 0, -1))


async def _waiting(pool: ArqRedis) -> list[str]:
    """Batches waiting in the lanes (``jobs.lanes``), by id."""
    keys = LaneKeys.for_queue(pool.default_queue_name)
    return sorted(j.decode() for j in await pool.zrange(keys.ready, 0, -1))


async def _runs(services: Services) -> list[dict[str, object]]:
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(job_runs).order_by(job_runs.c.run_id))).mappings()
        return [dict(r) for r in rows]


def _cron_id(offset_ms: int = 0) -> tuple[str, int]:
    ms = int(_now().timestamp() * 1000) + offset_ms
    return f"cron:{JOB}:{ms}", ms


async def test_a_large_tick_enqueues_batches_with_deterministic_ids(
    batch_services: Services, data: Data, queue: ArqRedis, mailbox: CaptureServer
) -> None:
    await _due(data, 7)
    tick_id, ms = _cron_id()
    assert await _tick(batch_services, queue, tick_id) == {
        "selected": 0,
        "sent": 0,
        "skipped": 0,
        "failed": 0,
        "deferred": 0,
        "already_done": 0,
        "held": 0,
    }
    assert await _waiting(queue) == [f"batch:{JOB}:{ms}:{i}" for i in range(3)]
    assert len(await _queued(queue)) == 3  # one taker a batch, up to WORKER_MAX_JOBS
    assert mailbox.messages == []  # the tick itself sends nothing: the batches will
    [run] = await _runs(batch_services)
    assert (run["run_id"], run["status"], run["selected"]) == (tick_id, "succeeded", 0)


async def test_a_small_tick_sends_inline(
    batch_services: Services, data: Data, queue: ArqRedis, mailbox: CaptureServer
) -> None:
    await _due(data, BATCH)
    counts = await _tick(batch_services, queue, _cron_id()[0])
    assert (counts["selected"], counts["sent"]) == (BATCH, BATCH)
    assert await _queued(queue) == []
    assert len(mailbox.messages) == BATCH


async def test_batches_send_each_slot_once_count_in_job_runs_and_a_repeated_tick_adds_none(
    batch_services: Services, data: Data, queue: ArqRedis, mailbox: CaptureServer
) -> None:
    await _due(data, 7)
    tick_id, _ms = _cron_id()
    await _tick(batch_services, queue, tick_id)
    worker = _worker(batch_services, queue)
    await worker.main()
    assert worker.jobs_failed == 0 and await _waiting(queue) == []
    ids = [str(m.parsed()["Message-ID"]) for m in mailbox.messages]
    assert len(ids) == 7 and len(set(ids)) == 7
    [run] = await _runs(batch_services)
    assert (run["status"], run["selected"], run["sent"], run["failed"]) == ("succeeded", 7, 7, 0)
    await _tick(batch_services, queue, tick_id)  # arq's duplicate cron run (issue #196)
    assert await _queued(queue) == []  # every batch id is still kept in the lanes: refused
    assert await _waiting(queue) == []
    assert len(mailbox.messages) == 7


async def test_two_workers_share_the_batches_of_overlapping_ticks_and_send_each_slot_once(
    settings: Settings,
    batch_services: Services,
    data: Data,
    queue: ArqRedis,
    mailbox: CaptureServer,
) -> None:
    await _due(data, 12)
    first, second = _cron_id()[0], _cron_id(1)[0]
    await _tick(batch_services, queue, first)
    await _tick(batch_services, queue, second)  # same slots, other batch ids: 8 batches
    assert len(await _waiting(queue)) == 8
    other = open_services(settings.model_copy(update={"batch_size": BATCH}), _now)
    try:
        workers = [_worker(batch_services, queue), _worker(other, queue)]
        await asyncio.gather(*(w.main() for w in workers))
    finally:
        await close_services(other)
    assert [w.jobs_complete > 0 for w in workers] == [True, True]
    assert await _waiting(queue) == []
    ids = [str(m.parsed()["Message-ID"]) for m in mailbox.messages]
    assert len(ids) == 12 and len(set(ids)) == 12
    runs = await _runs(batch_services)
    assert sum(int(str(r["selected"])) for r in runs) == 24  # each tick considered all 12
    assert sum(int(str(r["sent"])) for r in runs) == 12  # the claim gave each slot to one


async def test_two_ticks_of_one_job_in_one_worker_take_turns_at_selecting(
    batch_services: Services, queue: ArqRedis
) -> None:
    # Side by side, both reviewed the same never-computed rows and both wrote their moves:
    # after a reset, ten such ticks of a kind held the probes' pool for minutes (seen in the
    # benchmark's memory phase). In turn, the later tick finds the rows moved: one move.
    people = LocalTimeData(batch_services.engine)
    away = (_now() + timedelta(hours=12)).time().replace(second=0, microsecond=0)
    users = [await people.digest_user("UTC", digest_time=away) for _ in range(5)]
    moves: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("UPDATE") and "local_time_schedules" in statement:
            moves.append(statement)

    event.listen(batch_services.probes.sync_engine, "before_cursor_execute", count)
    ms = int(_now().timestamp() * 1000)
    ctxs: list[JobContext] = [
        {"services": batch_services, "redis": queue, "job_id": f"cron:daily_digest:{ms + i}"}
        for i in range(2)
    ]
    await asyncio.gather(*(job_function("daily_digest")(ctx) for ctx in ctxs))
    assert len(moves) == 1
    assert NOT_COMPUTED not in [(await people.next_sends(u))[0] for u in users]
