"""The ``notifier dev`` demo on SQLite, in process: what it seeds, re-seeds and sends.

The subprocess tests in tests/dev prove the timing with the real cron; these prove, fast and
for a fixed instant, that one round of every registered job sends exactly the demo's expected
mail, that re-seeding touches only the demo's rows, and how foreign data is detected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.app import Services
from notifier.db.engine import make_engine
from notifier.db.schema import reminders_sent, users, workspaces
from notifier.dev.demo_db import foreign_rows, replace_demo
from notifier.dev.seed import DEMO_WORKSPACE_ID, build_demo
from notifier.jobs.registry import tick_functions
from notifier.jobs.runs import run_recorded
from notifier.rules.kinds import JOB_KINDS
from tests.support.data import Data
from tests.support.smtp import CaptureServer

NOW = datetime(2026, 3, 9, 13, 59, 42, tzinfo=UTC)


async def _count(engine: AsyncEngine, table: object, *where: object) -> int:
    async with engine.connect() as conn:
        stmt = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int(await conn.scalar(stmt) or 0)


async def _round(services: Services, at: datetime) -> None:
    for job in sorted(tick_functions()):
        await run_recorded(services, job, at)


async def test_one_round_of_every_job_sends_exactly_the_demo_mail(
    sqlite_services: Services, mailbox: CaptureServer
) -> None:
    demo = build_demo(NOW)
    await replace_demo(sqlite_services.engine, demo)
    registered = set(tick_functions())
    expected = sorted((m.kind, m.to) for m in demo.expected if m.job in registered)
    assert {kind for kind, _ in expected} == {JOB_KINDS[j] for j in registered} - {None}

    await _round(sqlite_services, demo.soon + timedelta(seconds=1))
    await _round(sqlite_services, demo.soon + timedelta(minutes=1))

    assert sorted((m.kind, m.rcpt_tos[0]) for m in mailbox.messages) == expected


async def test_reseeding_replaces_the_demo_and_leaves_other_data_alone(
    sqlite_services: Services, mailbox: CaptureServer
) -> None:
    engine = sqlite_services.engine
    theirs = await Data(engine).user(email="real.person@example.com")
    demo = build_demo(NOW)
    await replace_demo(engine, demo)
    await _round(sqlite_services, demo.soon + timedelta(seconds=1))
    assert await _count(engine, reminders_sent) > 0

    await replace_demo(engine, build_demo(NOW + timedelta(hours=1)))

    in_demo = users.c.workspace_id == DEMO_WORKSPACE_ID
    assert await _count(engine, users, in_demo) == demo.counts()["users"]
    assert await _count(engine, users, users.c.id == theirs) == 1
    assert await _count(engine, reminders_sent) == 0  # the demo users' ledger starts afresh
    assert await foreign_rows(engine) == {"workspaces": 1, "users": 1}


async def test_a_fresh_or_demo_only_database_holds_no_foreign_rows(
    sqlite_services: Services, tmp_path: Path
) -> None:
    assert await foreign_rows(sqlite_services.engine) == {}
    await replace_demo(sqlite_services.engine, build_demo(NOW))
    assert await foreign_rows(sqlite_services.engine) == {}
    assert await _count(sqlite_services.engine, workspaces) == 1

    never_migrated = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        assert await foreign_rows(never_migrated) == {}
    finally:
        await never_migrated.dispose()
