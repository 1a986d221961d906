"""Contract section 5 (recurring tasks) against real PostgreSQL, real processes and SQLite."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection
from structlog.testing import capture_logs

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.schema import metadata
from notifier.services import recurring_tasks as svc
from notifier.services.recurring_tasks import run_tick
from tests.support.ledger import ledger_rows
from tests.support.processes import notifier_command, service_env
from tests.support.task_data import TaskData

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
COPIED = (
    "workspace_id",
    "user_id",
    "title",
    "description",
    "priority",
    "tags",
    "is_recurring",
    "recurrence_type",
    "recurrence_interval",
    "recurrence_rule",
    "recurrence_end",
)


@pytest.fixture
def tdata(services: Services) -> TaskData:
    return TaskData(services.engine)


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A New York wall-clock time as a UTC instant."""
    return datetime(year, month, day, hour, tzinfo=NY).astimezone(UTC)


async def completed_series_task(
    tdata: TaskData,
    user: uuid.UUID,
    due: datetime | None,
    recurrence_type: str | None = "daily",
    **columns: Any,
) -> uuid.UUID:
    """A recurring task the user has just completed."""
    columns = {
        "is_recurring": True,
        "recurrence_type": recurrence_type,
        "completed": True,
        "completed_at": due or NOW,
        "status": "completed",
        **columns,
    }
    return await tdata.task(user, due, **columns)


async def complete(tdata: TaskData, task_id: uuid.UUID) -> None:
    await tdata.update_task(task_id, completed=True, completed_at=NOW, status="completed")


async def test_a_completed_task_gets_one_open_next_instance_with_every_field_copied(
    services: Services, tdata: TaskData
) -> None:
    ws = await tdata.workspace("America/New_York")
    user = await tdata.user(ws)
    end = local(2026, 12, 31, 0)
    source = await completed_series_task(
        tdata,
        user,
        local(2026, 3, 16, 9),
        "weekly",
        title="Team <sync> & notes",
        description="Agenda:\n- ünïcode ✓",
        priority="high",
        tags=["work", "weekly", {"nested": [1, 2]}],
        recurrence_interval=2,
        recurrence_end=end,
    )
    before = datetime.now(UTC)
    counts = await run_tick(services, NOW)
    assert (counts.selected, counts.sent, counts.skipped, counts.failed) == (1, 1, 0, 0)
    src = await tdata.get_task(source)
    [made] = await tdata.children(source)
    assert {c: made[c] for c in COPIED} == {c: src[c] for c in COPIED}
    assert made["due_date"] == local(2026, 3, 30, 9)
    assert made["parent_task_id"] == source and made["id"] != source
    assert (made["completed"], made["status"]) == (False, "open")
    assert made["completed_at"] is None and made["last_processed_at"] is None
    assert made["deleted_at"] is None
    assert src["last_processed_at"] is not None and src["last_processed_at"] >= before
    assert (src["status"], src["completed"]) == ("completed", True)


async def test_instances_point_at_the_first_task_and_monthly_returns_to_the_31st(
    services: Services, tdata: TaskData
) -> None:
    user = await tdata.user(timezone="America/New_York")
    root = await completed_series_task(tdata, user, local(2026, 1, 31, 9), "monthly")
    expected = [local(2026, 2, 28, 9), local(2026, 3, 31, 9), local(2026, 4, 30, 9)]
    for tick in range(len(expected)):
        assert (await run_tick(services, NOW + timedelta(minutes=5 * tick))).sent == 1
        instances = await tdata.children(root)
        assert [t["due_date"] for t in instances] == expected[: tick + 1]
        await complete(tdata, instances[-1]["id"])
    assert all(t["parent_task_id"] == root for t in await tdata.children(root))
    assert len(await tdata.all_tasks()) == 4


async def test_a_host_that_chains_instances_still_gets_the_first_tasks_rhythm(
    services: Services, tdata: TaskData
) -> None:
    user = await tdata.user(timezone="America/New_York")
    monthly: dict[str, Any] = {"is_recurring": True, "recurrence_type": "monthly"}
    root = await tdata.task(user, local(2026, 1, 31, 9), **monthly)
    middle = await tdata.task(user, local(2026, 2, 28, 9), parent_task_id=root, **monthly)
    last = await completed_series_task(
        tdata, user, local(2026, 3, 31, 9), "monthly", parent_task_id=middle
    )
    assert (await run_tick(services, NOW)).sent == 1
    [made] = [t for t in await tdata.children(root) if t["id"] != middle]
    assert made["due_date"] == local(2026, 4, 30, 9)
    assert (await tdata.get_task(last))["last_processed_at"] is not None


async def test_09_00_local_stays_09_00_across_dst(services: Services, tdata: TaskData) -> None:
    user = await tdata.user(timezone="America/New_York")
    source = await completed_series_task(tdata, user, local(2026, 3, 7, 9))
    await run_tick(services, NOW)
    [made] = await tdata.children(source)
    assert made["due_date"] == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 09:00 EDT


async def test_the_workspace_zone_is_used_when_the_user_has_none(
    services: Services, tdata: TaskData
) -> None:
    ws = await tdata.workspace("Europe/Berlin")
    user = await tdata.user(ws)
    due = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 CET; Berlin springs forward on the 29th
    source = await completed_series_task(tdata, user, due)
    await run_tick(services, NOW)
    [made] = await tdata.children(source)
    assert made["due_date"] == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST


async def test_a_custom_rule_is_followed(services: Services, tdata: TaskData) -> None:
    user = await tdata.user(timezone="America/New_York")
    source = await completed_series_task(
        tdata,
        user,
        local(2026, 3, 6, 17),
        "custom",
        recurrence_rule="FREQ=WEEKLY;BYDAY=MO,FR",
    )
    await run_tick(services, NOW)
    [made] = await tdata.children(source)
    assert made["due_date"] == local(2026, 3, 9, 17)
    assert made["recurrence_rule"] == "FREQ=WEEKLY;BYDAY=MO,FR"


async def test_nothing_is_made_after_recurrence_end(services: Services, tdata: TaskData) -> None:
    user = await tdata.user()
    due = datetime(2026, 3, 10, 9, tzinfo=UTC)
    source = await completed_series_task(tdata, user, due, recurrence_end=due + timedelta(hours=23))
    counts = await run_tick(services, NOW)
    assert (counts.selected, counts.sent, counts.skipped) == (1, 0, 1)
    assert await tdata.children(source) == []
    assert (await tdata.get_task(source))["last_processed_at"] is not None
    assert (await run_tick(services, NOW)).selected == 0


async def test_bad_series_are_recorded_and_logged_by_id_and_the_others_processed(
    services: Services, tdata: TaskData
) -> None:
    user = await tdata.user()
    due = datetime(2026, 3, 10, 9, tzinfo=UTC)
    good = await completed_series_task(tdata, user, due)
    malformed = await completed_series_task(
        tdata, user, due, "custom", recurrence_rule="FREQ=SOMETIMES", title="Secret title"
    )
    unknown = await completed_series_task(tdata, user, due, "fortnightly")
    bad_zone = await tdata.user(timezone="Atlantis/Capital")
    zoned = await completed_series_task(tdata, bad_zone, due)
    with capture_logs() as logs:
        counts = await run_tick(services, NOW)
    assert (counts.selected, counts.sent, counts.failed) == (4, 1, 3)
    assert len(await tdata.children(good)) == 1
    rows = {r["entity_id"]: r for r in await ledger_rows(services.engine, "recurring_task")}
    assert set(rows) == {malformed, unknown, zoned}
    assert all(r["status"] == "failed" and r["last_error"] for r in rows.values())
    assert rows[malformed]["last_error"].startswith("malformed_rule")
    assert rows[unknown]["last_error"].startswith("unknown_type")
    warnings = {e["task_id"]: e["code"] for e in logs if e["event"] == "recurrence_failed"}
    assert warnings == {
        str(malformed): "malformed_rule",
        str(unknown): "unknown_type",
        str(zoned): "unknown_zone",
    }
    assert "Secret title" not in repr(logs) and "SOMETIMES" not in repr(logs)
    for task in (malformed, unknown, zoned):
        assert (await tdata.get_task(task))["last_processed_at"] is not None
    assert (await run_tick(services, NOW + timedelta(minutes=5))).selected == 0


@pytest.mark.parametrize(
    ("columns", "due"),
    [
        ({"deleted_at": NOW}, NOW - timedelta(days=1)),
        ({}, None),
    ],
    ids=["deleted", "no due date"],
)
async def test_deleted_or_undated_tasks_are_processed_without_an_instance(
    services: Services, tdata: TaskData, columns: dict[str, Any], due: datetime | None
) -> None:
    user = await tdata.user()
    source = await completed_series_task(tdata, user, due, **columns)
    counts = await run_tick(services, NOW)
    assert (counts.sent, counts.skipped) == (0, 1)
    assert await tdata.children(source) == []
    assert (await tdata.get_task(source))["last_processed_at"] is not None


async def test_open_non_recurring_or_processed_tasks_are_not_touched(
    services: Services, tdata: TaskData
) -> None:
    user = await tdata.user()
    due = NOW - timedelta(days=1)
    await tdata.task(user, due, is_recurring=True, recurrence_type="daily")  # still open
    await tdata.task(user, due, completed=True, status="completed")  # not recurring
    await completed_series_task(tdata, user, due, last_processed_at=NOW)  # done before
    assert (await run_tick(services, NOW)).selected == 0
    assert len(await tdata.all_tasks()) == 3


async def test_running_twice_makes_one_instance(services: Services, tdata: TaskData) -> None:
    user = await tdata.user()
    sources = [
        await completed_series_task(tdata, user, NOW - timedelta(days=d)) for d in range(1, 6)
    ]
    first = await run_tick(services, NOW)
    second = await run_tick(services, NOW)
    assert (first.sent, second.selected, second.sent) == (5, 0, 0)
    for source in sources:
        assert len(await tdata.children(source)) == 1


async def test_a_batch_already_taken_by_another_worker_is_counted_not_redone(
    services: Services, tdata: TaskData
) -> None:
    user = await tdata.user()
    source = await completed_series_task(tdata, user, NOW - timedelta(days=1))
    ids = [source]
    assert (await svc.process(services, ids, NOW)).sent == 1
    again = await svc.process(services, ids, NOW)  # the same ids, as a slower worker holds them
    assert (again.selected, again.sent, again.already_done) == (1, 0, 1)
    assert len(await tdata.children(source)) == 1


async def test_a_crash_after_creating_the_instance_leaves_neither_instance_nor_mark(
    services: Services, tdata: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await tdata.user()
    source = await completed_series_task(tdata, user, NOW - timedelta(days=1))
    original = svc.record_failures

    async def die_after_the_inserts(conn: AsyncConnection, *args: Any) -> None:
        raise RuntimeError("process killed")  # the batch's last step, before its commit

    monkeypatch.setattr(svc, "record_failures", die_after_the_inserts)
    with pytest.raises(RuntimeError):
        await run_tick(services, NOW)
    assert await tdata.children(source) == []
    assert (await tdata.get_task(source))["last_processed_at"] is None
    monkeypatch.setattr(svc, "record_failures", original)
    assert (await run_tick(services, NOW)).sent == 1
    assert len(await tdata.children(source)) == 1


async def _wait_for_lock_waiters(conn: asyncpg.Connection, count: int) -> None:
    """Polls ``pg_locks`` until ``count`` other backends wait for a lock on ``tasks``."""
    query = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'tasks' AND NOT l.granted"
    )
    for _ in range(3000):
        if await conn.fetchval(query) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} processes never reached the lock on tasks")


async def test_two_processes_started_at_once_make_one_instance_per_task(
    services: Services, settings: Settings, tdata: TaskData, database_url: str
) -> None:
    user = await tdata.user()
    sources = [
        await completed_series_task(tdata, user, NOW - timedelta(hours=h)) for h in range(1, 61)
    ]
    env = service_env(settings, BATCH_SIZE="7")
    argv = [*notifier_command(), "run", "recurring_tasks", "--at", NOW.isoformat()]
    gate = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        # A start gate, not a sleep: both processes select their candidates, then queue on the
        # row locks until this transaction ends, and race from the same instant.
        transaction = gate.transaction()
        await transaction.start()
        await gate.execute("LOCK TABLE tasks IN EXCLUSIVE MODE")
        procs = [
            await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            for _ in range(2)
        ]
        await _wait_for_lock_waiters(gate, 2)
        await transaction.commit()
        outputs = [await p.communicate() for p in procs]
    finally:
        await gate.close()
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    summaries = [json.loads(out) for out, _ in outputs]
    assert sum(s["sent"] for s in summaries) == 60
    assert all(s["selected"] == 60 for s in summaries)
    for source in sources:
        assert len(await tdata.children(source)) == 1
    assert len(await tdata.all_tasks()) == 120


async def test_the_processor_runs_on_sqlite_too(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'notifier.db'}"
    lite = open_services(settings.model_copy(update={"database_url": SecretStr(url)}), lambda: NOW)
    try:
        async with lite.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        data = TaskData(lite.engine)
        user = await data.user(timezone="America/New_York")
        source = await completed_series_task(data, user, local(2026, 1, 31, 9), "monthly")
        assert (await run_tick(lite, NOW)).sent == 1
        assert (await run_tick(lite, NOW)).selected == 0
        [made] = await data.children(source)
        assert made["due_date"] == local(2026, 2, 28, 9) and made["tags"] == []
    finally:
        await close_services(lite)
