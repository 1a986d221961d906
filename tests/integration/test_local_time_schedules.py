"""The trigger-maintained ``local_time_schedules`` copy, on PostgreSQL and on SQLite.

The digest and notes ticks select through this copy, so a copy that lags behind the host
tables would lose notifications: every way the host changes a zone, a time or a switch is
checked here, plus the migration's backfill of users that existed before it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select

from notifier.app import close_services, open_services
from notifier.config import Settings
from notifier.db.engine import make_engine
from notifier.db.migrate import alembic_config, upgrade_to_head
from notifier.db.schema import local_time_zones, users, workspaces
from notifier.services import daily_digest
from tests.conftest import _admin, db_url, real_clock
from tests.support.ledger import ledger_rows
from tests.support.local_time_data import LocalTimeData
from tests.support.servers import Server
from tests.support.smtp import CaptureServer

DEFAULTS = {
    "is_active": True,
    "email_enabled": True,
    "digest_enabled": False,
    "digest_time": time(7, 0),
    "digest_skip_weekends": False,
    "notes_reminder_enabled": False,
    "notes_reminder_time": time(18, 0),
    "weekly_report_enabled": False,
    "weekly_report_day": 1,
    "weekly_report_time": time(8, 0),
    "digest_days_set": False,
}


async def check_copy_follows_the_host_tables(people: LocalTimeData) -> None:
    """Shared by both dialects: each host change shows in the copy at once."""
    space = await people.workspace("Europe/Paris")
    user = await people.user(space, timezone=None)
    assert await people.schedule(user) == {"user_id": user, "zone": "Europe/Paris", **DEFAULTS}
    await people.add_settings(user, digest_enabled=True, digest_time=time(6, 15))
    await people.set_settings(user, notes_reminder_enabled=True, notes_reminder_time=time(19, 0))
    copy = await people.schedule(user)
    assert copy is not None
    assert (copy["digest_enabled"], copy["digest_time"]) == (True, time(6, 15))
    assert (copy["notes_reminder_enabled"], copy["notes_reminder_time"]) == (True, time(19, 0))
    await people.set_settings(
        user, weekly_report_enabled=True, weekly_report_day=5, weekly_report_time=time(16, 30)
    )
    copy = await people.schedule(user) or {}
    weekly = (copy["weekly_report_enabled"], copy["weekly_report_day"], copy["weekly_report_time"])
    assert weekly == (True, 5, time(16, 30))
    await people.set_settings(user, digest_days=[1, 3])
    assert (await people.schedule(user) or {})["digest_days_set"] is True
    await people.set_settings(user, digest_days=None)
    assert (await people.schedule(user) or {})["digest_days_set"] is False
    await people.set_workspace(space, timezone="Asia/Kathmandu")
    assert (await people.schedule(user) or {})["zone"] == "Asia/Kathmandu"
    await people.set_user(user, timezone="Pacific/Apia")
    assert (await people.schedule(user) or {})["zone"] == "Pacific/Apia"
    await people.set_workspace(space, timezone="Asia/Tokyo")  # the user's own zone wins
    assert (await people.schedule(user) or {})["zone"] == "Pacific/Apia"
    await people.set_user(user, timezone="")  # empty means "none", as in Python
    assert (await people.schedule(user) or {})["zone"] == "Asia/Tokyo"
    await people.set_user(user, is_active=False)
    assert (await people.schedule(user) or {})["is_active"] is False
    await people.drop_settings(user)
    assert await people.schedule(user) == {
        "user_id": user,
        "zone": "Asia/Tokyo",
        **DEFAULTS,
        "is_active": False,
    }
    async with people.engine.connect() as conn:
        zones = set((await conn.execute(select(local_time_zones.c.zone))).scalars())
    assert zones >= {"Europe/Paris", "Asia/Kathmandu", "Pacific/Apia", "Asia/Tokyo"}


async def test_the_copy_follows_every_host_change_on_postgresql(services: object) -> None:
    from notifier.app import Services

    assert isinstance(services, Services)
    people = LocalTimeData(services.engine)
    await check_copy_follows_the_host_tables(people)


async def test_deleting_a_user_deletes_the_copy(services: object) -> None:
    from notifier.app import Services

    assert isinstance(services, Services)
    people = LocalTimeData(services.engine)
    user = await people.user(timezone="UTC", settings={"digest_enabled": True})
    await people.drop_settings(user)
    async with services.engine.begin() as conn:
        await conn.execute(users.delete().where(users.c.id == user))
    assert await people.schedule(user) is None


async def test_a_bulk_import_is_copied_in_one_statement(services: object) -> None:
    from notifier.app import Services

    assert isinstance(services, Services)
    people = LocalTimeData(services.engine)
    space = await people.workspace("America/Chicago")
    ids = [uuid.uuid4() for _ in range(3000)]
    async with services.engine.begin() as conn:
        await conn.execute(
            insert(users),
            [{"id": i, "workspace_id": space, "email": "x@example.com"} for i in ids],
        )
        count = await conn.exec_driver_sql(
            "SELECT count(*) FROM local_time_schedules WHERE zone = 'America/Chicago'"
        )
    assert count.scalar() == 3000


@pytest.fixture
async def empty_db(pg: Server) -> AsyncIterator[str]:
    name = f"e_{uuid.uuid4().hex[:10]}"
    await _admin(pg, f"CREATE DATABASE {name}")
    yield db_url(pg, name)
    await _admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_the_migration_backfills_existing_users_and_downgrades_cleanly(
    empty_db: str,
) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(empty_db), "0001")
    engine = make_engine(empty_db)
    space, user = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(insert(workspaces).values(id=space, timezone="Asia/Kolkata"))
        await conn.execute(insert(users).values(id=user, workspace_id=space))
    await asyncio.to_thread(upgrade_to_head, empty_db)
    people = LocalTimeData(engine)
    assert (await people.schedule(user) or {})["zone"] == "Asia/Kolkata"
    await asyncio.to_thread(command.downgrade, alembic_config(empty_db), "0001")
    async with engine.begin() as conn:  # no trigger is left behind to fail on writes
        await conn.execute(insert(users).values(id=uuid.uuid4(), workspace_id=space))
    await asyncio.to_thread(upgrade_to_head, empty_db)
    async with engine.connect() as conn:
        count = await conn.exec_driver_sql("SELECT count(*) FROM local_time_schedules")
    assert count.scalar() == 2
    await engine.dispose()


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'notifier.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    return url


async def test_the_copy_follows_every_host_change_on_sqlite(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        await check_copy_follows_the_host_tables(LocalTimeData(engine))
    finally:
        await engine.dispose()


async def test_a_digest_tick_runs_on_sqlite(sqlite_url: str, mailbox: CaptureServer) -> None:
    settings = Settings(
        database_url=sqlite_url,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        mail_from="notifier@practice.test",
    )
    services = open_services(settings, real_clock)
    try:
        people = LocalTimeData(services.engine)
        space = await people.workspace("Asia/Kathmandu")
        user = await people.digest_user(None, space, digest_time=time(7, 0))
        await people.digest_user("UTC", digest_time=time(7, 0))  # not due at 01:15 UTC
        await people.appointment_in(space, user, datetime(2026, 1, 5, 4, 0, tzinfo=UTC))
        now = datetime(2026, 1, 5, 1, 15, tzinfo=UTC)
        counts = await daily_digest.run_tick(services, now)
        assert (counts.selected, counts.sent) == (1, 1)
        assert (await daily_digest.run_tick(services, now)).selected == 0
        [row] = await ledger_rows(services.engine, "daily_digest")
        assert (row["user_id"], row["status"]) == (user, "sent")
        assert "09:45" in mailbox.messages[0].parsed().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    finally:
        await close_services(services)
