"""``/health`` and ``/metrics`` report each priority lane's batches, read from real Redis.

Batches go in as a fanned-out tick puts them (``jobs.lanes.put`` under ``batch_job_id``), on a
queue of the test's own, so other tests' lanes on the shared Redis do not count.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from redis.asyncio import Redis

from notifier.app import Services
from notifier.config import Settings
from notifier.health.server import HealthContext, start_health_server
from notifier.jobs import lanes
from notifier.jobs.fanout import batch_job_id
from tests.support.clock import SetClock, clocked_services
from tests.support.servers import free_port

AT = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
LEASE_MS = 60_000


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[tuple[Redis, str]]:
    """Real Redis and a queue name no other test uses; its keys are deleted afterwards."""
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    name = f"arq:test-lanes-{uuid.uuid4().hex[:8]}"
    try:
        yield redis, name
    finally:
        keys = lanes.LaneKeys.for_queue(name)
        found = [k async for k in redis.scan_iter(match=f"{keys.payload_prefix}*")]
        await redis.delete(name, keys.ready, keys.running, *found)
        await redis.aclose()


@pytest.fixture
async def base(settings: Settings, queue: tuple[Redis, str]) -> AsyncIterator[str]:
    """The health server of a worker started at ``AT``, reading the test's queue."""
    redis, name = queue
    clock = SetClock(AT)
    async with clocked_services(settings, clock) as services:
        ctx = _context(services, redis, clock, name)
        runner = await start_health_server(ctx, "127.0.0.1", port := free_port())
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


def _context(services: Services, redis: Redis, clock: SetClock, name: str) -> HealthContext:
    schedules = {"appointment_reminders": "* * * * *"}
    return HealthContext(services.engine, redis, services.metrics, schedules, clock, AT, queue=name)


async def _put(redis: Redis, name: str, job: str, count: int) -> None:
    """``count`` batches of one tick of ``job``, ranked as the fan-out ranks them."""
    keys = lanes.LaneKeys.for_queue(name)
    for index in range(count):
        batch = {"job": job, "ids": [], "rank": lanes.rank(0, lanes.lane_of(job))}
        assert await lanes.put(redis, keys, batch_job_id(job, AT, index), batch, ttl=600)


async def _get(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.text()


async def test_health_and_metrics_count_batches_per_lane(
    base: str, queue: tuple[Redis, str]
) -> None:
    redis, name = queue
    await _put(redis, name, "appointment_reminders", 2)  # lane 1
    await _put(redis, name, "daily_digest", 3)  # lane 2
    await _put(redis, name, "weekly_report", 1)  # lane 2
    taken = await lanes.take(redis, lanes.LaneKeys.for_queue(name), LEASE_MS)
    assert taken is not None and taken[1]["job"] == "appointment_reminders"  # lane 1 first
    await redis.zadd(name, {"some-token": 1})  # arq's own queue: one job waiting

    body = json.loads(await _get(f"{base}/health"))
    assert body["queue_depth"] == 1  # the contract's field, unchanged
    assert body["lane_depth"] == {
        "1": {"waiting": 1, "leased": 1},
        "2": {"waiting": 4, "leased": 0},
        "3": {"waiting": 0, "leased": 0},
    }

    samples = _samples(await _get(f"{base}/metrics"))
    assert samples['notifier_lane_depth{lane="1",state="waiting"}'] == 1
    assert samples['notifier_lane_depth{lane="1",state="leased"}'] == 1
    assert samples['notifier_lane_depth{lane="2",state="waiting"}'] == 4
    assert samples['notifier_lane_depth{lane="2",state="leased"}'] == 0
    assert samples['notifier_lane_depth{lane="3",state="waiting"}'] == 0
    assert samples["notifier_queue_depth"] == 1


async def test_a_batch_done_leaves_the_lanes_and_empty_lanes_read_zero(
    base: str, queue: tuple[Redis, str]
) -> None:
    redis, name = queue
    keys = lanes.LaneKeys.for_queue(name)
    await _put(redis, name, "recurring_tasks", 1)  # lane 3
    taken = await lanes.take(redis, keys, LEASE_MS)
    assert taken is not None
    await lanes.done(redis, keys, taken[0])
    body = json.loads(await _get(f"{base}/health"))
    assert body["lane_depth"] == {str(n): {"waiting": 0, "leased": 0} for n in (1, 2, 3)}


def test_a_batch_id_names_its_lane() -> None:
    tick = AT + timedelta(minutes=1)
    assert lanes.batch_lane(batch_job_id("task_reminders", tick, 7)) == 1
    assert lanes.batch_lane(batch_job_id("notes_reminders", tick, 0)) == 2
    assert lanes.batch_lane("not-a-batch-id") == 3  # unknown: the last lane


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value of every sample line."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            sample, value = line.rsplit(" ", 1)
            found[sample] = float(value)
    return found
