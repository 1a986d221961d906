"""``job_runs`` bookkeeping in autocommit statements, and the engine's idle-only ping.

The row's rules (contract, ``jobs.runs``): written ``running`` before the tick's first side
effect (at the start for ``notifier run``; once work is found for a fanned-out tick, whose
row is otherwise written once, finished), closed in a ``finally``, counts added as
increments, a batch's ``failed`` never undone, and abandoned ``running`` rows of the same job
(older than ``ABANDONED_AFTER``) closed as failed whenever a row is written; PostgreSQL does
that close and the insert in one statement.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.app import Services
from notifier.db import engine as engine_module
from notifier.db.engine import make_engine
from notifier.db.schema import job_runs
from notifier.jobs.runs import (
    ABANDONED_AFTER,
    TickRow,
    TickRunner,
    add_counts,
    fail_run,
    run_recorded,
)
from notifier.services.counts import TickCounts

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


async def _running(engine: AsyncEngine, job: str, run_id: str, age: timedelta) -> None:
    started = datetime.now(UTC) - age
    async with engine.begin() as conn:
        await conn.execute(
            insert(job_runs).values(
                id=uuid.uuid4(),
                job_name=job,
                run_id=run_id,
                status="running",
                scheduled_for=started,
                started_at=started,
            )
        )


async def _rows(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return {r["run_id"]: r for r in (await conn.execute(select(job_runs))).mappings()}


async def _finds_nothing(_row: TickRow) -> TickCounts:
    return TickCounts()


@pytest.mark.parametrize("runner", [None, _finds_nothing], ids=["inline", "fanned-out"])
async def test_start_closes_only_the_jobs_abandoned_rows(
    services: Services, runner: TickRunner | None
) -> None:
    old = ABANDONED_AFTER + timedelta(minutes=1)
    await _running(services.engine, "daily_digest", "killed", old)
    await _running(services.engine, "daily_digest", "live", timedelta(minutes=1))
    await _running(services.engine, "notes_reminders", "other job", old)
    await run_recorded(services, "daily_digest", NOW, run_id="this", runner=runner)
    rows = await _rows(services.engine)
    assert rows["killed"]["status"] == "failed" and "abandoned" in rows["killed"]["error"]
    assert rows["killed"]["finished_at"] is not None
    assert [rows[r]["status"] for r in ("live", "other job")] == ["running", "running"]
    assert rows["this"]["status"] == "succeeded" and rows["this"]["finished_at"] is not None


async def test_batch_counts_and_failure_survive_the_ticks_close(services: Services) -> None:
    async def runner(row: TickRow) -> TickCounts:
        assert "fanned" not in await _rows(services.engine)  # nothing written before work
        await row.open()
        rows = await _rows(services.engine)
        assert rows["fanned"]["status"] == "running"  # written before the batches run
        await add_counts(services, row.id, TickCounts(selected=3, sent=2, failed=1))
        await fail_run(services, row.id, RuntimeError("batch broke\nsecret line"))
        return TickCounts(selected=1)

    await run_recorded(services, "daily_digest", NOW, run_id="fanned", runner=runner)
    row = (await _rows(services.engine))["fanned"]
    assert (row["selected"], row["sent"], row["failed"]) == (4, 2, 1)
    assert row["status"] == "failed" and row["error"] == "RuntimeError: batch broke"


async def test_a_raising_tick_is_closed_failed(services: Services) -> None:
    async def runner(_row: TickRow) -> TickCounts:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        await run_recorded(services, "daily_digest", NOW, run_id="raised", runner=runner)
    row = (await _rows(services.engine))["raised"]
    assert row["status"] == "failed" and row["error"] == "ValueError: boom"


async def test_a_tick_that_finds_nothing_writes_one_finished_row(services: Services) -> None:
    async def runner(_row: TickRow) -> TickCounts:
        return TickCounts(selected=0)

    await run_recorded(services, "daily_digest", NOW, run_id="idle", runner=runner)
    row = (await _rows(services.engine))["idle"]
    assert (row["status"], row["scheduled_for"], row["selected"]) == ("succeeded", NOW, 0)
    assert row["started_at"] <= row["finished_at"]


async def test_sessions_run_without_jit(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW jit"))).scalar() == "off"
    finally:
        await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _kill(database_url: str, pid: int) -> None:
    other = make_engine(database_url, pool_size=1)
    try:
        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine whose pool holds one connection, so the next checkout is the killed one."""
    engine = make_engine(database_url, pool_size=1)
    yield engine
    await engine.dispose()


async def test_an_idle_connection_is_pinged_and_replaced_when_dead(
    database_url: str, one_connection: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = await _backend_pid(one_connection)
    await _kill(database_url, pid)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert await _backend_pid(one_connection) != pid  # no error reaches the caller


async def test_a_busy_connection_is_not_pinged_and_a_disconnect_recovers_next_time(
    database_url: str, one_connection: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    pid = await _backend_pid(one_connection)
    await _kill(database_url, pid)
    # asyncpg reports the dead backend as "connection is closed" or, if the server's goodbye
    # arrives as the query goes out, as an internal state error: either way the statement
    # fails once and SQLAlchemy replaces the connection.
    with pytest.raises(DBAPIError):
        await _backend_pid(one_connection)
    assert await _backend_pid(one_connection) != pid
