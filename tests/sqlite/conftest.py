"""SQLite fixtures: a freshly migrated database file per test, the shared SMTP capture server.

The same Alembic tree as PostgreSQL migrates the file (``upgrade_to_head``), so these tests
prove that the schema and the services run on the embedded dialect of ``notifier dev``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from tests.support.smtp import CaptureServer


def _clock() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifier.sqlite3'}"
    upgrade_to_head(url)
    return url


@pytest.fixture
def sqlite_settings(sqlite_url: str, smtp_server: CaptureServer) -> Settings:
    return Settings(
        database_url=sqlite_url,
        redis_url="redis://127.0.0.1:1/0",  # never used: ticks run without arq here
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_retry_base_seconds=0.01,
        mail_from="notifier@practice.test",
        app_base_url="https://app.practice.test",
    )


@pytest.fixture
async def sqlite_services(sqlite_settings: Settings) -> AsyncIterator[Services]:
    services = open_services(sqlite_settings, _clock)
    assert services.engine.dialect.name == "sqlite"
    yield services
    await close_services(services)
