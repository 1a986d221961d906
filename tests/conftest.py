"""Shared fixtures: throwaway servers for the session, a fresh database per test.

The servers start only when a test asks for them, so the unit tests run without any. A
missing server binary is an error, never a skip: CI must fail loudly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import asyncpg
import pytest

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from notifier.timemath.tz_database import use_tz_database
from tests.support.browser import browser  # noqa: F401  (a fixture)
from tests.support.data import Data
from tests.support.receiver import start_receiver  # noqa: F401  (a fixture)
from tests.support.servers import Server, free_port, local_servers
from tests.support.smtp import CaptureServer

TEMPLATE_DB = "notifier_template"


def pytest_configure(config: pytest.Config) -> None:
    """The tests compute zones with the database every notifier process uses (the bundled
    ``tzdata``), not the host's: the two differ for some zones."""
    use_tz_database("bundled")


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[Server, Server]]:
    with local_servers() as (pg, redis):
        yield pg, redis


@pytest.fixture(scope="session")
def pg(servers: tuple[Server, Server]) -> Server:
    return servers[0]


@pytest.fixture(scope="session")
def redis_server(servers: tuple[Server, Server]) -> Server:
    return servers[1]


def db_url(pg: Server, name: str) -> str:
    return pg.url.rsplit("/", 1)[0] + "/" + name


async def _admin(pg: Server, sql: str) -> None:
    conn = await asyncpg.connect(db_url(pg, "postgres").replace("+asyncpg", ""))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_db(pg: Server) -> str:
    """A database migrated once; every test copies it (cheap: a file copy in PostgreSQL)."""
    asyncio.run(_admin(pg, f"CREATE DATABASE {TEMPLATE_DB}"))
    upgrade_to_head(db_url(pg, TEMPLATE_DB))
    return TEMPLATE_DB


@pytest.fixture
async def database_url(pg: Server, template_db: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(pg, f"CREATE DATABASE {name} TEMPLATE {template_db}")
    yield db_url(pg, name)
    await _admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[CaptureServer]:
    server = CaptureServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: CaptureServer) -> CaptureServer:
    smtp_server.handler.clear()
    return smtp_server


@pytest.fixture
def settings(database_url: str, redis_server: Server, smtp_server: CaptureServer) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_server.url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_retry_base_seconds=0.01,
        mail_from="notifier@practice.test",
        app_base_url="https://app.practice.test",
    )


def real_clock() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    svc = open_services(settings, real_clock)
    yield svc
    await close_services(svc)


@pytest.fixture
def data(services: Services) -> Data:
    return Data(services.engine)
