"""The Alembic tree and the SQLAlchemy schema agree, and ``notifier migrate`` builds it all."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import BLANK_SCHEMA, MetaData, inspect
from sqlalchemy.engine import Connection

from notifier.db.engine import make_engine
from notifier.db.migrate import alembic_config
from notifier.db.schema import metadata
from tests.conftest import _admin, db_url
from tests.support.processes import run_notifier
from tests.support.servers import Server

CONTRACT_TABLES = {
    "workspaces",
    "users",
    "notification_settings",
    "clients",
    "appointments",
    "sessions",
    "tasks",
    "task_reminders",
    "reminders_sent",
    "job_runs",
}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def empty_db(pg: Server) -> AsyncIterator[str]:
    name = f"empty_{uuid.uuid4().hex[:10]}"
    await _admin(pg, f"CREATE DATABASE {name}")
    yield db_url(pg, name)
    await _admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _blank(*_: object) -> object:
    return BLANK_SCHEMA


def _plain(source: MetaData) -> MetaData:
    """``source`` with every table in the default schema, as the migrations build it here
    (``NOTIFIER_SCHEMA`` = ``HOST_SCHEMA`` = public); ``db.schema`` marks the host's."""
    plain = MetaData(naming_convention=source.naming_convention)
    for table in source.tables.values():
        table.to_metadata(plain, schema=None, referred_schema_fn=_blank)  # type: ignore[arg-type]
    return plain


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, _plain(metadata)))


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    await engine.dispose()
    assert diff == []


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


async def test_notifier_migrate_creates_every_contract_table_from_any_directory(
    empty_db: str,
) -> None:
    result = run_notifier(["migrate"], {"DATABASE_URL": empty_db, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert await _tables(empty_db) >= CONTRACT_TABLES
    again = run_notifier(["migrate"], {"DATABASE_URL": empty_db, "PATH": "/usr/bin:/bin"})
    assert again.returncode == 0, again.stderr


async def test_alembic_upgrade_head_from_the_repository_works_too(empty_db: str) -> None:
    alembic = Path(sys.executable).parent / "alembic"
    result = subprocess.run(
        [str(alembic), "upgrade", "head"],
        cwd=REPO,
        env={"DATABASE_URL": empty_db},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert await _tables(empty_db) >= CONTRACT_TABLES


async def test_the_channels_migration_carries_every_ledger_row_over_as_email(
    empty_db: str,
) -> None:
    """Contract section 2: rows from before channels keep their slot, as ``email``; the key
    then admits one row per channel, and still one only per channel."""
    await asyncio.to_thread(command.upgrade, alembic_config(empty_db), "0004")
    plain = empty_db.replace("+asyncpg", "")
    conn = await asyncpg.connect(plain)
    try:
        row = (uuid.uuid4(), "task_due", uuid.uuid4(), uuid.uuid4())
        await conn.execute(
            "INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, status, attempts,"
            " message_id, created_at) VALUES ($1, $2, $3, $4, now(), 'sent', 1, '<m@x>', now())",
            *row,
        )
        await asyncio.to_thread(command.upgrade, alembic_config(empty_db), "head")
        kept = await conn.fetchrow("SELECT channel, message_id, status FROM reminders_sent")
        assert dict(kept) == {"channel": "email", "message_id": "<m@x>", "status": "sent"}
        copy = "INSERT INTO reminders_sent (id, kind, entity_id, user_id, slot, status, attempts,"
        copy += " created_at, channel) SELECT $1, kind, entity_id, user_id, slot, 'pending', 0,"
        copy += " now(), $2 FROM reminders_sent LIMIT 1"
        await conn.execute(copy, uuid.uuid4(), "webhook")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(copy, uuid.uuid4(), "email")
    finally:
        await conn.close()
