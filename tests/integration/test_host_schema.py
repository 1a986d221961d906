"""Living beside a host application (contract section 12): the worker's tables in their own
schema, the host's tables read through views in another, a role that may only read those, and
``notifier migrate --own-tables-only`` touching nothing of the host's. Real PostgreSQL, real
``notifier`` processes, real SMTP capture."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert, update

from notifier.config import Settings
from notifier.db.engine import Schemas, make_engine
from notifier.db.schema import (
    appointments,
    clients,
    metadata,
    notification_settings,
    sessions,
    task_reminders,
    tasks,
    users,
    workspaces,
)
from tests.conftest import _admin, db_url
from tests.support.processes import run_notifier, service_env
from tests.support.servers import Server
from tests.support.smtp import CaptureServer

HOST_TABLES = [workspaces, users, notification_settings, clients, appointments, sessions, tasks]
HOST_TABLES += [task_reminders]
ROLE, PASSWORD = "notifier_guest", "guest-password-0123"
TUESDAY_8_PARIS = datetime(2026, 6, 9, 6, 0, tzinfo=UTC)  # 08:00 CEST


@dataclass(frozen=True)
class HostDatabase:
    """A database whose §1 tables live in ``app`` and are read through views in ``app_views``."""

    admin_url: str
    guest_url: str

    async def admin(self, sql: str) -> list[Any]:
        """Runs ``sql`` as the database's owner: the rows of a query, or nothing."""
        conn = await asyncpg.connect(self.admin_url.replace("+asyncpg", ""))
        try:
            if sql.lstrip().upper().startswith("SELECT"):
                return list(await conn.fetch(sql))
            await conn.execute(sql)
            return []
        finally:
            await conn.close()

    async def write(self, stmt: Any) -> None:
        """A host write, in the host's own tables (schema ``app``)."""
        engine = make_engine(self.admin_url, pool_size=1, schemas=Schemas("app", "app"))
        async with engine.begin() as conn:
            await conn.execute(stmt)
        await engine.dispose()


@pytest.fixture
async def host(pg: Server) -> AsyncIterator[HostDatabase]:
    name = f"host_{uuid.uuid4().hex[:10]}"
    await _admin(pg, f"CREATE DATABASE {name}")
    admin_url = db_url(pg, name)
    db = HostDatabase(admin_url, _as_role(admin_url))
    await db.admin("CREATE SCHEMA app; CREATE SCHEMA app_views")
    engine = make_engine(admin_url, pool_size=1, schemas=Schemas("app", "app"))
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: metadata.create_all(sync, tables=HOST_TABLES))
    await engine.dispose()
    views = "; ".join(
        f"CREATE VIEW app_views.{t.name} AS SELECT * FROM app.{t.name}" for t in HOST_TABLES
    )
    await db.admin(views)
    await db.admin(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'; END IF; END $$;"
        f"GRANT CONNECT ON DATABASE {name} TO {ROLE};"
        f"GRANT USAGE ON SCHEMA app_views TO {ROLE};"
        f"GRANT SELECT ON ALL TABLES IN SCHEMA app_views TO {ROLE};"
        f"CREATE SCHEMA notifier AUTHORIZATION {ROLE};"
    )
    yield db
    await _admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _as_role(url: str) -> str:
    """The same database as the guest role: ``scheme://ROLE:PASSWORD@host:port/db``."""
    scheme, rest = url.split("://", 1)
    where = rest.split("@", 1)[1] if "@" in rest else rest
    return f"{scheme}://{ROLE}:{PASSWORD}@{where}"


def guest_env(settings: Settings, db: HostDatabase) -> dict[str, str]:
    return service_env(
        settings, DATABASE_URL=db.guest_url, NOTIFIER_SCHEMA="notifier", HOST_SCHEMA="app_views"
    )


async def notifier(args: list[str], env: dict[str, str]) -> Any:
    result = await asyncio.to_thread(run_notifier, args, env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


HOST_OBJECTS = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('app', 'app_views')
UNION ALL SELECT 'trigger', t.tgname, 't' FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname IN ('app', 'app_views')
ORDER BY 1, 2
"""


async def test_own_tables_only_beside_views_touches_nothing_of_the_hosts_and_follows_it(
    settings: Settings, host: HostDatabase, mailbox: CaptureServer
) -> None:
    before = await host.admin(HOST_OBJECTS)
    env = guest_env(settings, host)
    await notifier(["migrate", "--own-tables-only"], env)
    await notifier(["migrate", "--own-tables-only"], env)  # safe to repeat
    assert await host.admin(HOST_OBJECTS) == before
    own = {
        r["tablename"]
        for r in await host.admin("SELECT tablename FROM pg_tables WHERE schemaname = 'notifier'")
    }
    assert {"reminders_sent", "job_runs", "alembic_version", "in_app_notifications"} <= own
    assert "users" not in own

    workspace = uuid.uuid4()
    user = uuid.uuid4()
    await host.write(
        insert(workspaces).values(id=workspace, name="Practice", timezone="Europe/Paris")
    )
    await host.write(
        insert(users).values(
            id=user, workspace_id=workspace, email="pat@example.com", full_name="Pat"
        )
    )
    await host.write(
        insert(notification_settings).values(
            user_id=user, digest_enabled=True, digest_time=time(8, 0)
        )
    )
    summary = await notifier(["run", "daily_digest", "--at", TUESDAY_8_PARIS.isoformat()], env)
    assert json.loads(summary.stdout)["sent"] == 1
    assert len(mailbox.messages) == 1

    # The host moves the practice to Tokyo: the next day's 08:00 is 23:00 UTC the day before.
    await host.write(
        update(workspaces).where(workspaces.c.id == workspace).values(timezone="Asia/Tokyo")
    )
    paris_wednesday = TUESDAY_8_PARIS + timedelta(days=1)
    assert (
        json.loads(
            (
                await notifier(["run", "daily_digest", "--at", paris_wednesday.isoformat()], env)
            ).stdout
        )["sent"]
        == 0
    )
    tokyo_thursday = datetime(2026, 6, 10, 23, 0, tzinfo=UTC)
    assert (
        json.loads(
            (
                await notifier(["run", "daily_digest", "--at", tokyo_thursday.isoformat()], env)
            ).stdout
        )["sent"]
        == 1
    )

    starts = tokyo_thursday + timedelta(hours=1)
    await host.write(
        insert(appointments).values(
            id=uuid.uuid4(),
            workspace_id=workspace,
            user_id=user,
            starts_at=starts,
            ends_at=starts,
            status="scheduled",
        )
    )
    result = await notifier(
        ["run", "appointment_reminders", "--at", tokyo_thursday.isoformat()], env
    )
    assert json.loads(result.stdout)["sent"] == 1
    assert len(mailbox.messages) == 3
    assert await host.admin(HOST_OBJECTS) == before


async def test_a_full_migrate_refuses_a_host_schema_apart_from_its_own(
    settings: Settings, host: HostDatabase
) -> None:
    env = guest_env(settings, host)
    result = await asyncio.to_thread(run_notifier, ["migrate"], env)
    assert result.returncode != 0
    assert "--own-tables-only" in result.stderr
    assert await host.admin("SELECT 1 FROM pg_tables WHERE schemaname = 'notifier'") == []


async def test_a_view_without_a_column_is_named_by_check_and_fails_that_kinds_tick_alone(
    settings: Settings, host: HostDatabase, mailbox: CaptureServer
) -> None:
    env = guest_env(settings, host)
    await notifier(["migrate", "--own-tables-only"], env)
    fine = (await notifier(["check"], env)).stdout
    assert "app_views (host), notifier (worker): no UPDATE on app_views.tasks" in fine
    columns = ", ".join(c.name for c in notification_settings.columns if c.name != "digest_days")
    await host.admin(
        "DROP VIEW app_views.notification_settings;"
        f"CREATE VIEW app_views.notification_settings AS SELECT {columns}"
        " FROM app.notification_settings;"
        f"GRANT SELECT ON app_views.notification_settings TO {ROLE};"
    )
    named = "app_views.notification_settings: lacks digest_days (json or jsonb)"
    check = await asyncio.to_thread(run_notifier, ["check"], env)
    assert check.returncode != 0 and named in check.stdout

    workspace, user = uuid.uuid4(), uuid.uuid4()
    await host.write(insert(workspaces).values(id=workspace, name="P", timezone="UTC"))
    await host.write(insert(users).values(id=user, workspace_id=workspace, email="pat@example.com"))
    at = datetime(2026, 6, 9, 7, 0, tzinfo=UTC)
    await host.write(insert(notification_settings).values(user_id=user, digest_enabled=True))
    failed = await asyncio.to_thread(
        run_notifier, ["run", "daily_digest", "--at", at.isoformat()], env
    )
    assert failed.returncode != 0
    assert named in failed.stderr
    errors = await host.admin("SELECT error FROM notifier.job_runs WHERE job_name = 'daily_digest'")
    assert [row["error"] for row in errors] == [f"host relations: {named}"]
    starts = at + timedelta(hours=1)
    await host.write(
        insert(appointments).values(
            id=uuid.uuid4(), user_id=user, starts_at=starts, ends_at=starts, status="scheduled"
        )
    )
    result = await notifier(["run", "appointment_reminders", "--at", at.isoformat()], env)
    assert json.loads(result.stdout)["sent"] == 1 and len(mailbox.messages) == 1


def admin_env(settings: Settings, db: HostDatabase) -> dict[str, str]:
    """The database owner's environment: it may create triggers on the host's tables."""
    return service_env(
        settings, DATABASE_URL=db.admin_url, NOTIFIER_SCHEMA="notifier", HOST_SCHEMA="app_views"
    )


async def test_host_triggers_keep_the_copy_current_and_come_off_again(
    settings: Settings, host: HostDatabase, mailbox: CaptureServer
) -> None:
    env = guest_env(settings, host)
    await notifier(["migrate", "--own-tables-only"], env)
    before = await host.admin(HOST_OBJECTS)
    installed = await notifier(["host-triggers", "install"], admin_env(settings, host))
    tables = ["app.notification_settings", "app.users", "app.workspaces"]
    assert installed.stdout.split() == tables
    workspace, user = uuid.uuid4(), uuid.uuid4()
    await host.write(insert(workspaces).values(id=workspace, name="P", timezone="Europe/Paris"))
    await host.write(insert(users).values(id=user, workspace_id=workspace, email="pat@example.com"))
    await host.write(
        insert(notification_settings).values(
            user_id=user, digest_enabled=True, digest_time=time(8, 0)
        )
    )
    summary = await notifier(["run", "daily_digest", "--at", TUESDAY_8_PARIS.isoformat()], env)
    assert json.loads(summary.stdout)["sent"] == 1
    copied = await host.admin("SELECT zone FROM notifier.local_time_schedules")
    assert [r["zone"] for r in copied] == ["Europe/Paris"]
    assert await host.admin("SELECT id FROM notifier.host_changes") == []

    await host.write(
        update(workspaces).where(workspaces.c.id == workspace).values(timezone="Asia/Tokyo")
    )
    assert len(await host.admin("SELECT id FROM notifier.host_changes")) == 1
    tokyo_thursday = datetime(2026, 6, 10, 23, 0, tzinfo=UTC)
    result = await notifier(["run", "daily_digest", "--at", tokyo_thursday.isoformat()], env)
    assert json.loads(result.stdout)["sent"] == 1
    assert [
        r["zone"] for r in await host.admin("SELECT zone FROM notifier.local_time_schedules")
    ] == ["Asia/Tokyo"]

    removed = await notifier(["host-triggers", "remove"], admin_env(settings, host))
    assert removed.stdout.split() == tables
    assert await host.admin(HOST_OBJECTS) == before


async def test_straight_from_the_hosts_relations_a_digest_held_through_an_outage_still_goes(
    settings: Settings, host: HostDatabase, mailbox: CaptureServer
) -> None:
    """Without the copy (no host triggers) the local-time kinds read the host's relations; a
    digest due 22:00 UTC in a 21:00-07:00 quiet period, no tick between 20:00 and 07:10, goes
    at 07:10 (the period's end is its due instant, contract section 10), once; the same
    digest without quiet hours is past."""
    env = guest_env(settings, host)
    await notifier(["migrate", "--own-tables-only"], env)
    workspace, quiet, plain = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await host.write(insert(workspaces).values(id=workspace, name="P", timezone="UTC"))
    for user, email in ((quiet, "quiet@example.com"), (plain, "plain@example.com")):
        await host.write(insert(users).values(id=user, workspace_id=workspace, email=email))
    nights = {"quiet_hours_start": time(21, 0), "quiet_hours_end": time(7, 0)}
    for user, extra in ((quiet, nights), (plain, {})):
        values = {"user_id": user, "digest_enabled": True, "digest_time": time(22, 0), **extra}
        await host.write(insert(notification_settings).values(**values))
    evening, morning = (
        datetime(2026, 6, 9, 20, 0, tzinfo=UTC),
        datetime(2026, 6, 10, 7, 10, tzinfo=UTC),
    )
    for at, sent in ((evening, 0), (morning, 1), (morning + timedelta(minutes=1), 0)):
        result = await notifier(["run", "daily_digest", "--at", at.isoformat()], env)
        assert json.loads(result.stdout)["sent"] == sent, at
    [message] = mailbox.messages
    assert message.parsed()["To"] == "quiet@example.com"
