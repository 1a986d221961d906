"""A worker started with a newer tz database puts the copy's next-send instants back
(migration 0011, ``services.tz_reset``), against real PostgreSQL: what resets, what does not,
two claims at once, and the real ``notifier worker`` doing it at start. Each test fails
without the piece it names."""

from __future__ import annotations

import asyncio
import uuid
from datetime import time
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.app import Services
from notifier.config import Settings
from notifier.db.engine import Schemas, make_engine
from notifier.db.migrate import upgrade_to_head
from notifier.db.schema import local_time_schedules
from notifier.rules.local_time_slots import NOT_COMPUTED
from notifier.services import tz_reset
from notifier.timemath.tz_database import TzDatabase, bundled_version
from notifier.timemath.tz_releases import Recorded, Verdict
from tests.integration.test_host_schema import HostDatabase, host  # noqa: F401 (a fixture)
from tests.support.tz_records import (
    COMPUTED,
    instants,
    record,
    recorded,
    users_with_computed_instants,
)
from tests.support.worker import WorkerProcess, wait_until

NEW = TzDatabase("bundled", "2026f")
NEWER = TzDatabase("bundled", "2026g")


async def _row_versions(engine: AsyncEngine) -> list[str]:
    """Each row's ``xmin``: any write to a row, even of the same values, changes it."""
    async with engine.connect() as conn:
        sql = f"SELECT xmin::text FROM {local_time_schedules.name} ORDER BY user_id"
        return list((await conn.execute(text(sql))).scalars())


async def test_a_newer_release_puts_every_rows_instants_back_in_chunks_and_is_recorded(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tz_reset, "CHUNK", 2)  # five rows: three chunks, the last one short
    engine = services.engine
    await users_with_computed_instants(engine, 5)
    await record(engine, "2026e")
    outcome = await tz_reset.reconcile(engine, NEW)
    assert outcome == tz_reset.Outcome(Verdict.RESET, Recorded("2026e", True), rows=5)
    assert await instants(engine) == {NOT_COMPUTED}
    assert await recorded(engine) == ("2026f", True)


async def test_the_same_release_writes_no_row(services: Services) -> None:
    engine = services.engine
    await users_with_computed_instants(engine, 3)
    await record(engine, "2026f")
    before = await _row_versions(engine)
    outcome = await tz_reset.reconcile(engine, NEW)
    assert outcome.verdict is Verdict.KEEP
    assert await instants(engine) == {COMPUTED}
    assert await _row_versions(engine) == before
    assert await recorded(engine) == ("2026f", True)


async def test_an_older_release_beside_a_newer_one_leaves_rows_and_record(
    services: Services,
) -> None:
    """A rolling deploy: the old workers starting again must not reset back."""
    engine = services.engine
    await users_with_computed_instants(engine, 3)
    await record(engine, "2026g")
    assert (await tz_reset.reconcile(engine, NEW)).verdict is Verdict.OLDER
    assert await instants(engine) == {COMPUTED}
    assert await recorded(engine) == ("2026g", True)


async def test_the_first_start_after_the_migration_resets_once(services: Services) -> None:
    """No record: which release computed the stored instants is not known."""
    engine = services.engine
    await users_with_computed_instants(engine, 3)
    assert (await tz_reset.reconcile(engine, NEW)).rows == 3
    await users_with_computed_instants(engine, 1)  # a tick computes them again
    assert (await tz_reset.reconcile(engine, NEW)).verdict is Verdict.KEEP
    assert await instants(engine) == {COMPUTED}


async def test_a_reset_stopped_half_way_is_done_again_by_the_next_start(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = services.engine
    await users_with_computed_instants(engine, 3)
    await record(engine, "2026e")

    async def stopped(_engine: AsyncEngine) -> int:
        raise ConnectionResetError("the worker was stopped")

    with monkeypatch.context() as patch:
        patch.setattr(tz_reset, "reset_instants", stopped)
        with pytest.raises(ConnectionResetError):
            await tz_reset.reconcile(engine, NEW)
    assert await recorded(engine) == ("2026f", False)  # claimed, not finished
    assert await instants(engine) == {COMPUTED}
    assert (await tz_reset.reconcile(engine, NEW)).rows == 3
    assert await recorded(engine) == ("2026f", True)


async def _claims_waiting(engine: AsyncEngine) -> bool:
    sql = (
        "SELECT count(*) FROM pg_locks WHERE NOT granted"
        " AND relation = 'local_time_tz_database'::regclass"
    )
    async with engine.connect() as conn:
        return bool(await conn.scalar(text(sql)))


async def test_a_claim_waits_for_one_in_flight_and_then_sees_it(
    services: Services, settings: Settings
) -> None:
    """Two workers starting together: the older release must not claim over the newer one
    it could not yet see."""
    other = make_engine(settings.database_url.get_secret_value(), pool_size=1)
    await record(services.engine, "2026e")
    try:
        async with services.engine.begin() as conn:
            await tz_reset._lock(conn)
            await tz_reset._record(conn, NEWER)
            second = asyncio.create_task(tz_reset.claim(other, NEW))
            await wait_until(lambda: _claims_waiting(services.engine), 10, "the second claim")
        assert await second == (Recorded("2026g", False), Verdict.OLDER)
    finally:
        await other.dispose()
    assert await recorded(services.engine) == ("2026g", False)


async def test_two_workers_of_the_same_release_end_with_every_row_reset(
    services: Services, settings: Settings
) -> None:
    engine = services.engine
    other = make_engine(settings.database_url.get_secret_value(), pool_size=1)
    await users_with_computed_instants(engine, 4)
    await record(engine, "2026e")
    try:
        outcomes = await asyncio.gather(
            tz_reset.reconcile(engine, NEW), tz_reset.reconcile(other, NEW)
        )
    finally:
        await other.dispose()
    assert Verdict.RESET in {o.verdict for o in outcomes}
    assert sum(o.rows for o in outcomes) == 4  # a row put back once, whoever did it
    assert await instants(engine) == {NOT_COMPUTED}
    assert await recorded(engine) == ("2026f", True)


async def test_the_worker_resets_at_start_while_it_runs(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    """The start-up hook: a real ``notifier worker`` with the bundled database (newer than
    the recorded 2000a) resets the rows and records its release, then stops cleanly."""
    engine = services.engine
    await users_with_computed_instants(engine, 3)
    await record(engine, "2000a")
    worker = WorkerProcess.start(settings, tmp_path, "worker")
    try:

        async def done() -> bool:
            return await recorded(engine) == (bundled_version(), True)

        await wait_until(done, 60, "the worker's reset")
        assert await instants(engine) == {NOT_COMPUTED}
    finally:
        assert await worker.stop() == 0, worker.log.read_text()[-2000:]
    assert '"tz_reset_finished"' in worker.log.read_text()


async def test_a_failed_start_is_tried_again_until_it_gets_through(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database away at start must only delay the reset (the retry's wait made zero)."""
    engine = services.engine
    await users_with_computed_instants(engine, 2)
    real_claim = tz_reset.claim
    failures = [ConnectionRefusedError("the database is restarting")]

    async def claim_once_failing(
        engine: AsyncEngine, database: TzDatabase
    ) -> tuple[Recorded | None, Verdict]:
        if failures:
            raise failures.pop()
        return await real_claim(engine, database)

    monkeypatch.setattr(tz_reset, "claim", claim_once_failing)
    monkeypatch.setattr(tz_reset, "RETRY_FIRST_SECONDS", 0.0)
    outcome = await tz_reset.keep_trying(engine, NEW)
    assert (outcome.verdict, outcome.rows, failures) == (Verdict.RESET, 2, [])
    assert await instants(engine) == {NOT_COMPUTED}


async def test_a_second_start_while_the_first_runs_is_the_same_task(
    services: Services,
) -> None:
    """arq calls its start-up hook again after a Redis outage: one check a process."""
    resets = tz_reset.TzResets()
    first = resets.start(services.engine)
    assert resets.start(services.engine) is first
    assert (await first).verdict is Verdict.RESET
    await resets.stop()  # finished: nothing to stop
    assert (await resets.start(services.engine)).verdict is Verdict.KEEP


async def test_beside_a_host_the_record_and_the_reset_stay_in_the_workers_schema(
    host: HostDatabase,  # noqa: F811 (the fixture imported above)
) -> None:
    """``migrate --own-tables-only`` creates the record in ``NOTIFIER_SCHEMA``, and the
    worker's role (owner of its tables only) claims and resets there."""
    schemas = Schemas("notifier", "app_views")
    await asyncio.to_thread(upgrade_to_head, host.guest_url, schemas, own_tables_only=True)
    engine = make_engine(host.guest_url, pool_size=2, schemas=schemas)
    computed = dict.fromkeys(("digest_next", "notes_reminder_next", "weekly_report_next"), COMPUTED)
    row = {"user_id": uuid.uuid4(), "zone": "UTC", "is_active": True, "email_enabled": True}
    row |= {"digest_enabled": True, "digest_time": time(7), "digest_skip_weekends": False}
    row |= {"notes_reminder_enabled": False, "notes_reminder_time": time(18)}
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(local_time_schedules).values({**row, **computed}))
        assert (await tz_reset.reconcile(engine, NEW)).rows == 1
        assert await instants(engine) == {NOT_COMPUTED}
        assert await recorded(engine) == ("2026f", True)
    finally:
        await engine.dispose()
    found = await host.admin(
        "SELECT schemaname FROM pg_tables WHERE tablename = 'local_time_tz_database'"
    )
    assert [r["schemaname"] for r in found] == ["notifier"]
