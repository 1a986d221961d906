"""Real worker processes under crashes and outages: never twice, never lost.

Each test asserts exact counts of captured emails and of ``reminders_sent`` states. Outage
lengths are part of each scenario; everything else waits on observable conditions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifier.app import Services
from notifier.config import Settings
from notifier.db.schema import job_runs, reminders_sent
from tests.support.data import Data
from tests.support.servers import Server
from tests.support.smtp import CaptureServer
from tests.support.worker import WorkerProcess, wait_until

POOL = 4
WINDOW = 8  # SEND_WINDOW: sends in flight or accepted and not yet recorded, per process


async def _sent(services: Services) -> int:
    async with services.engine.connect() as conn:
        stmt = select(func.count()).where(reminders_sent.c.status == "sent")
        return int((await conn.execute(stmt)).scalar_one())


async def _due_now(
    data: Data, count: int, users: int = 10, offset: timedelta = timedelta()
) -> list[uuid.UUID]:
    """``count`` appointments whose 60-minute reminder is due ``offset`` from now."""
    ids = [await data.user(email=f"user{i}@example.com") for i in range(users)]
    base = datetime.now(UTC) + timedelta(minutes=60) - timedelta(seconds=1) + offset
    return [
        await data.appointment(ids[i % users], base - timedelta(milliseconds=i))
        for i in range(count)
    ]


def _ids(mailbox: CaptureServer) -> list[str]:
    return [str(m.parsed()["Message-ID"]) for m in mailbox.messages]


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.alive:
            worker.kill9()


async def test_kill_9_mid_sends_then_restart_sends_every_slot_within_the_bound(
    services: Services,
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    await _due_now(data, 500)
    mailbox.handler.delay = 0.02
    env = {"CLAIM_LEASE_SECONDS": "10", "SMTP_POOL_SIZE": str(POOL), "SEND_WINDOW": str(WINDOW)}
    first = WorkerProcess.start(settings, tmp_path, "first", **env)
    workers.append(first)

    async def hundred_captured() -> bool:
        return len(mailbox.messages) >= 100

    await wait_until(hundred_captured, 90, "the first worker to send 100 emails", interval=0.01)
    first.kill9()
    assert len(mailbox.messages) < 500
    mailbox.handler.delay = 0.0
    workers.append(WorkerProcess.start(settings, tmp_path, "second", **env))

    async def all_sent() -> bool:
        return await _sent(services) == 500

    await wait_until(all_sent, 180, "the restarted worker to finish all 500 slots")
    assert await workers[1].stop() == 0
    ids = _ids(mailbox)
    assert len(set(ids)) == 500
    assert len(ids) - 500 <= WINDOW  # the runbook's bound: accepted-but-unrecorded sends


async def test_two_workers_on_the_same_ticks_email_each_slot_once(
    services: Services,
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    await _due_now(data, 300)
    workers += [WorkerProcess.start(settings, tmp_path, n) for n in ("a", "b")]

    async def all_sent() -> bool:
        return await _sent(services) == 300

    await wait_until(all_sent, 120, "300 slots sent by two workers")
    assert [await w.stop() for w in workers] == [0, 0]
    ids = _ids(mailbox)
    assert len(ids) == 300 and len(set(ids)) == 300


async def test_sigterm_lets_the_running_tick_finish_and_exits_0(
    services: Services,
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    await _due_now(data, 200)
    mailbox.handler.delay = 0.05
    worker = WorkerProcess.start(settings, tmp_path, "graceful")
    workers.append(worker)

    async def some_captured() -> bool:
        return len(mailbox.messages) >= 20

    await wait_until(some_captured, 90, "the tick to start sending", interval=0.01)
    assert await worker.stop() == 0
    assert await _sent(services) == 200
    assert len(_ids(mailbox)) == 200


async def _succeeded_since(services: Services, since: datetime) -> bool:
    async with services.engine.connect() as conn:
        stmt = select(func.count()).where(
            job_runs.c.status == "succeeded", job_runs.c.started_at > since
        )
        return int((await conn.execute(stmt)).scalar_one()) > 0


async def _first_tick(services: Services) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)

    async def ticked() -> bool:
        return await _succeeded_since(services, start)

    await wait_until(ticked, 90, "a first successful tick")


async def test_redis_restarted_under_a_running_worker(
    services: Services,
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
    redis_server: Server,
) -> None:
    worker = WorkerProcess.start(settings, tmp_path, "redis")
    workers.append(worker)
    await _first_tick(services)
    redis_server.stop()
    await asyncio.sleep(90)  # the outage: longer than arq's own reconnect budget (~60 s)
    assert worker.alive
    redis_server.start()
    back = datetime.now(UTC)
    await _due_now(data, 3, users=1)

    async def sent_after_restart() -> bool:
        return await _sent(services) == 3 and await _succeeded_since(services, back)

    await wait_until(sent_after_restart, 150, "a tick after the Redis restart")
    assert worker.alive, worker.log.read_text()[-2000:]
    assert await worker.stop() == 0
    assert len(mailbox.messages) == 3


async def test_smtp_down_for_three_minutes_loses_nothing_and_sends_once(
    services: Services,
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    mailbox.stop()
    try:
        for minutes in (0, 1, 2):  # due at the start, the middle and the end of the outage
            await _due_now(data, 1, users=1, offset=timedelta(minutes=minutes))
        worker = WorkerProcess.start(settings, tmp_path, "smtp", SMTP_RETRY_BASE_SECONDS="0.5")
        workers.append(worker)
        await asyncio.sleep(180)  # the outage
        assert await _sent(services) == 0
    finally:
        mailbox.start()

    async def all_sent() -> bool:
        return await _sent(services) == 3

    await wait_until(all_sent, 120, "the three slots after SMTP came back")
    assert await worker.stop() == 0
    assert len(mailbox.messages) == 3 and len(set(_ids(mailbox))) == 3
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(reminders_sent))).mappings().all()
    assert {r["status"] for r in rows} == {"sent"}
    assert max(r["attempts"] for r in rows) > 1  # tried during the outage, then delivered


async def test_postgresql_restarted_under_a_running_worker(
    services: Services,
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
    pg: Server,
) -> None:
    worker = WorkerProcess.start(settings, tmp_path, "pg")
    workers.append(worker)
    await _first_tick(services)
    pg.stop()
    try:
        await asyncio.sleep(65)  # the outage spans at least one tick
        assert worker.alive
    finally:
        pg.start()
    back = datetime.now(UTC)
    await _due_now(data, 3, users=1)

    async def sent_after_restart() -> bool:
        return await _sent(services) == 3 and await _succeeded_since(services, back)

    await wait_until(sent_after_restart, 150, "a tick after the PostgreSQL restart")
    assert worker.alive, worker.log.read_text()[-2000:]
    assert await worker.stop() == 0
    assert len(mailbox.messages) == 3
