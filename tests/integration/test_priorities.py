"""Priority lanes (issue 19): the most urgent batch is taken first, and no lane starves.

Real Redis and real arq workers (in process, burst mode, one job at a time, so the order in
which batches are taken is the order in which they run). The kinds' batch steps are stand-ins
that record what ran: the order is the fan-out's business, not the kinds'.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from arq import ArqRedis, create_pool
from arq.worker import Worker

from notifier.app import Services
from notifier.config import Settings
from notifier.delivery.lane_gate import LaneGate
from notifier.jobs import arq_jobs, fanout, lanes
from notifier.jobs.arq_jobs import job_function
from notifier.jobs.context import JobContext
from notifier.services.batches import BatchedJob, TickInstant
from notifier.services.counts import TickCounts
from notifier.worker import batch_function, redis_settings

REMINDERS, DIGEST, RECURRING = "appointment_reminders", "daily_digest", "recurring_tasks"


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[ArqRedis]:
    """An arq pool whose default queue (and lanes) are this test's own."""
    name = f"arq:test-lanes-{uuid.uuid4().hex[:8]}"
    pool = await create_pool(
        redis_settings(settings.redis_url.get_secret_value()), default_queue_name=name
    )
    yield pool
    keys = lanes.LaneKeys.for_queue(name)
    await pool.delete(name, keys.ready, keys.running)
    await pool.aclose()


class Recorder:
    """Stand-in kinds: each batch run appends its job's name; ``then`` runs after each."""

    def __init__(self, due: dict[str, int]) -> None:
        self.due = due
        self.ran: list[str] = []
        self.then: dict[str, object] = {}

    def jobs(self) -> dict[str, BatchedJob]:
        return {job: BatchedJob(self._due_ids(job), self._batch(job)) for job in self.due}

    def _due_ids(self, job: str):  # type: ignore[no-untyped-def]
        async def due_ids(services: Services, now: datetime) -> list[uuid.UUID]:
            return [uuid.uuid4() for _ in range(self.due[job])]

        return due_ids

    def _batch(self, job: str):  # type: ignore[no-untyped-def]
        async def process(
            services: Services, ids: Sequence[uuid.UUID], tick: TickInstant
        ) -> TickCounts:
            self.ran.append(job)
            follow = self.then.get(job)
            if callable(follow):
                await follow()
            return TickCounts(selected=len(ids))

        return process


def _install(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> None:
    monkeypatch.setattr(fanout, "batched_jobs", recorder.jobs)
    monkeypatch.setattr(arq_jobs, "batched_jobs", recorder.jobs)


async def _tick(services: Services, pool: ArqRedis, job: str) -> None:
    """One cron tick of ``job`` as arq calls it: its batches go to the lanes."""
    ms = int(datetime.now(UTC).timestamp() * 1000)
    ctx: JobContext = {"services": services, "redis": pool, "job_id": f"cron:{job}:{ms}"}
    await job_function(job)(ctx)


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


@pytest.fixture
def small_batches(services: Services) -> Services:
    services.settings = services.settings.model_copy(update={"batch_size": 2})
    return services


async def test_a_reminder_batch_enqueued_after_a_digest_backlog_is_taken_first(
    small_batches: Services, queue: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder({DIGEST: 10, REMINDERS: 4, RECURRING: 4})
    _install(monkeypatch, recorder)
    await _tick(small_batches, queue, RECURRING)  # lane 3: two batches, first of all
    await _tick(small_batches, queue, DIGEST)  # lane 2: a backlog of five batches
    await _tick(small_batches, queue, REMINDERS)  # lane 1: two batches, enqueued last
    worker = _worker(small_batches, queue)
    await worker.main()
    assert recorder.ran == [REMINDERS] * 2 + [DIGEST] * 5 + [RECURRING] * 2
    assert worker.jobs_failed == 0


async def test_a_lane_3_batch_runs_while_lane_1_batches_keep_arriving(
    small_batches: Services, queue: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every lane-1 batch that runs brings another one, ranked ahead of the lane-3 batch
    until that one has waited longer than lane 1's head start: then it goes."""
    monkeypatch.setattr(lanes, "LANE_HEAD_START_SECONDS", {1: 0.5, 2: 0.25, 3: 0.0})
    recorder = Recorder({REMINDERS: 3, RECURRING: 3})  # two batches a tick
    _install(monkeypatch, recorder)

    async def another_reminder_batch() -> None:
        if RECURRING not in recorder.ran:
            await _tick(small_batches, queue, REMINDERS)

    recorder.then[REMINDERS] = another_reminder_batch
    await _tick(small_batches, queue, REMINDERS)
    await _tick(small_batches, queue, RECURRING)
    await _worker(small_batches, queue).main()
    first_lane_3 = recorder.ran.index(RECURRING)
    assert first_lane_3 > 2  # lane 1 went first while the lane-3 batches were young
    assert recorder.ran[first_lane_3 : first_lane_3 + 2] == [RECURRING] * 2
    assert recorder.ran[-1] == REMINDERS  # lane 1 was still arriving when lane 3 ran


async def test_a_workers_send_slots_go_to_lane_1_before_waiting_digest_sends() -> None:
    """Within one worker: ten digest sends wait for the one slot, then a reminder's send
    arrives; the slot goes to the reminder when it is freed, then the digests in order."""
    gate = LaneGate(asyncio.Semaphore(1))
    order: list[str] = []

    async def send(name: str, lane: int) -> None:
        async with gate.slot(lane):
            order.append(name)
            await asyncio.sleep(0)

    async with gate.slot(2):
        digests = [asyncio.create_task(send(f"digest {i}", 2)) for i in range(10)]
        await asyncio.sleep(0)
        reminder = asyncio.create_task(send("reminder", 1))
        await asyncio.sleep(0)
    await asyncio.gather(*digests, reminder)
    assert order == ["reminder", *(f"digest {i}" for i in range(10))]
