"""The ``notifier dev`` demo on SQLite, in process: what it seeds, re-seeds and sends.

The subprocess tests in tests/dev prove the timing with the real cron; these prove, fast and
for a fixed instant, that one round of every registered job delivers exactly the demo's
expected deliveries on every channel (emails, in-app rows read as the inbox reads them, and
webhook posts whose signatures the dev receiver verifies), that re-seeding touches only the
demo's rows, and how foreign data is detected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.engine import make_engine
from notifier.db.schema import in_app_notifications, reminders_sent, users, workspaces
from notifier.dev.demo_db import foreign_rows, replace_demo
from notifier.dev.in_app_feed import InAppFeed
from notifier.dev.seed import DEMO_WORKSPACE_ID, Demo, build_demo
from notifier.dev.standins import dev_webhooks
from notifier.dev.webhook_catcher import HookBox, hook_url, runner_port, start_receiver
from notifier.jobs.registry import tick_functions
from notifier.jobs.runs import run_recorded
from notifier.rules.kinds import EMAIL, IN_APP, JOB_KINDS, WEBHOOK
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


def _expected(demo: Demo, channel: str) -> list[tuple[str, str]]:
    registered = set(tick_functions())
    return sorted((e.kind, e.to) for e in demo.expected_on(channel) if e.job in registered)


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def dev_channels(sqlite_settings: Settings) -> AsyncIterator[tuple[Services, HookBox, int]]:
    """Services with dev mode's webhook settings, and dev mode's receiver on a free port."""
    settings = dev_webhooks(sqlite_settings)
    assert settings.webhook_secret is not None
    box = HookBox(settings.webhook_secret.get_secret_value())
    runner = await start_receiver(box, "127.0.0.1", 0)
    services = open_services(settings, _now)
    yield services, box, runner_port(runner)
    await close_services(services)
    await runner.cleanup()


async def test_one_round_of_every_job_delivers_exactly_the_demo_on_every_channel(
    dev_channels: tuple[Services, HookBox, int], mailbox: CaptureServer
) -> None:
    services, box, port = dev_channels
    demo = build_demo(NOW, hook_url(port, "rangi"))
    await replace_demo(services.engine, demo)
    mail = _expected(demo, EMAIL)
    registered = set(tick_functions())
    assert {kind for kind, _ in mail} == {JOB_KINDS[j] for j in registered} - {None}
    assert _expected(demo, IN_APP) and _expected(demo, WEBHOOK)

    await _round(services, demo.soon + timedelta(seconds=1))
    await _round(services, demo.soon + timedelta(minutes=1))

    assert sorted((m.kind, m.rcpt_tos[0]) for m in mailbox.messages) == mail
    feeds = await InAppFeed(services.engine).feeds()
    assert sorted((i.kind, f.email) for f in feeds for i in f.items) == _expected(demo, IN_APP)
    emails = {str(user_id): email for email, user_id in demo.user_ids().items()}
    posts = sorted((h.field("kind"), emails[h.field("user_id")]) for h in box.all())
    assert posts == _expected(demo, WEBHOOK)
    assert all(h.verified for h in box.all())


async def test_reseeding_replaces_the_demo_and_leaves_other_data_alone(
    sqlite_services: Services, mailbox: CaptureServer
) -> None:
    engine = sqlite_services.engine
    theirs = await Data(engine).user(email="real.person@example.com")
    demo = build_demo(NOW)
    await replace_demo(engine, demo)
    await _round(sqlite_services, demo.soon + timedelta(seconds=1))
    assert await _count(engine, reminders_sent) > 0
    assert await _count(engine, in_app_notifications) > 0

    await replace_demo(engine, build_demo(NOW + timedelta(hours=1)))

    in_demo = users.c.workspace_id == DEMO_WORKSPACE_ID
    assert await _count(engine, users, in_demo) == demo.counts()["users"]
    assert await _count(engine, users, users.c.id == theirs) == 1
    assert await _count(engine, reminders_sent) == 0  # the demo users' ledger starts afresh
    assert await _count(engine, in_app_notifications) == 0  # and so does their in-app feed
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
