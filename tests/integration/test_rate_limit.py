"""SMTP_RATE_LIMIT (issue 19): one rate for the whole pool, kept in Redis, spent by lanes in
priority order; a relay's 421/454 pauses every worker.

Real Redis, real PostgreSQL, and the capture server acting as a relay that refuses (454)
recipients past a rate: the limit 10% under it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from notifier.app import close_services, open_services
from notifier.config import Settings
from notifier.delivery import rate_limit
from notifier.delivery.rate_limit import RelayLimiter
from notifier.jobs.registry import tick_functions
from tests.support.data import Data
from tests.support.smtp import CaptureServer

LIMIT = 40.0
COUNT = 120


@pytest.fixture(autouse=True)
def own_keys(monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test its own limiter keys in the shared Redis."""
    prefix = f"test-rate-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(rate_limit, "KEY_PREFIX", prefix)
    return prefix


def _now() -> datetime:
    return datetime.now(UTC)


async def _due(data: Data, count: int) -> None:
    """``count`` appointments whose 60-minute reminder fell due a second ago."""
    user = await data.user()
    start = _now() + timedelta(minutes=60) - timedelta(seconds=1)
    for i in range(count):
        await data.appointment(user, start - timedelta(milliseconds=i))


async def test_two_workers_share_the_limit_and_lose_or_repeat_nothing(
    settings: Settings, data: Data, mailbox: CaptureServer
) -> None:
    await _due(data, COUNT)
    mailbox.handler.rate_cap = int(LIMIT * 1.1)  # the relay refuses past 44 a second
    # Two batches: while one worker sends the first, the other claims the second.
    limited = settings.model_copy(update={"smtp_rate_limit": LIMIT, "batch_size": COUNT // 2})
    workers = [open_services(limited, _now) for _ in range(2)]
    tick = tick_functions()["appointment_reminders"]
    try:
        results = await asyncio.gather(*(tick(w, _now()) for w in workers))
    finally:
        for w in workers:
            await close_services(w)
    assert sum(r.sent for r in results) == COUNT
    assert all(r.sent > 0 for r in results)  # both workers sent, at one shared rate
    messages = mailbox.messages
    ids = [str(m.parsed()["Message-ID"]) for m in messages]
    assert len(ids) == COUNT and len(set(ids)) == COUNT
    rate = (len(messages) - 1) / (messages[-1].at - messages[0].at)
    assert abs(rate - LIMIT) <= LIMIT * 0.1, rate


async def _limiters(settings: Settings, rate: float, count: int) -> list[RelayLimiter]:
    url = settings.redis_url.get_secret_value()
    return [RelayLimiter(aioredis.Redis.from_url(url), rate) for _ in range(count)]


async def test_lane_1_takes_the_rate_before_lane_2_when_both_wait(settings: Settings) -> None:
    """Ten digests and five reminders ask at once at 10/s: the digests may book half a second
    ahead, the reminders two; so every reminder goes before the digests still waiting."""
    [limiter] = await _limiters(settings, 10.0, 1)
    order: list[int] = []

    async def send(lane: int) -> None:
        await limiter.acquire(lane)
        order.append(lane)

    try:
        await asyncio.gather(*(send(2) for _ in range(10)), *(send(1) for _ in range(5)))
    finally:
        await limiter.close()
    assert order.count(1) == 5 and order[-4:] == [2, 2, 2, 2]


async def test_a_refusal_seen_by_one_worker_pauses_the_other(settings: Settings) -> None:
    one, other = await _limiters(settings, 100.0, 2)
    try:
        await other.acquire(1)  # the pool is sending
        pause = await one.refused()
        again = await one.refused()  # the same burst's refusals count once
        started = time.monotonic()
        await other.acquire(1)
        waited = time.monotonic() - started
    finally:
        await one.close()
        await other.close()
    assert pause == pytest.approx(rate_limit.PAUSE_FIRST_SECONDS)
    assert again <= pause
    assert waited >= pause - 0.1
