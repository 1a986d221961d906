"""The worker behind a real PgBouncer, as host applications often reach their database.

Transaction mode lends a server connection per transaction to whichever client asks, the host
application's included: the worker must keep nothing in a session there (no prepared
statement, no setting) and still plan its probes as it does on PostgreSQL itself. Session
mode refuses startup parameters it does not know, which is where the worker's settings were
sent before.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from pydantic import SecretStr

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.engine import autocommit, set_config_sql
from notifier.db.index_order import IN_INDEX_ORDER
from notifier.db.pooler_detection import shares_server_connections
from notifier.rules.kinds import JOB_NAMES
from tests.integration.test_console_api import (
    PASSWORD,
    api_get,
    api_resend,
    reminder_failed,
    resend_body,
    start_web,
    up,
)
from tests.support.data import Data
from tests.support.every_job import (
    ALL_JOBS,
    EMAIL_JOBS,
    SeedData,
    due_everywhere,
    kinds_to,
    run_job,
    run_statuses,
)
from tests.support.ledger import ledger_rows
from tests.support.pgbouncer import Mode, start_pgbouncer
from tests.support.processes import run_notifier, service_env, start_notifier
from tests.support.servers import Server, free_port
from tests.support.smtp import CaptureServer
from tests.support.worker import wait_until

AT = datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PROBE_SETTINGS = ("jit", *IN_INDEX_ORDER)
POOL_SIZE = 2  # server connections per database: fewer than any of the worker's pools


@pytest.fixture(scope="module")
def bouncers(pg: Server) -> Iterator[dict[str, Server]]:
    """Both modes with ``POOL_SIZE`` server connections, and transaction mode with one."""
    started = {
        "transaction": start_pgbouncer(pg, "transaction", POOL_SIZE),
        "session": start_pgbouncer(pg, "session", POOL_SIZE),
        "one": start_pgbouncer(pg, "transaction", 1),
    }
    yield started
    for server in started.values():
        server.close()


def behind(settings: Settings, bouncer: Server, mode: Mode) -> Settings:
    """``settings`` with DATABASE_URL through the pooler (same database) and its mode."""
    database = settings.database_url.get_secret_value().rsplit("/", 1)[1]
    url = bouncer.url.rsplit("/", 1)[0] + "/" + database
    return settings.model_copy(update={"database_url": SecretStr(url), "database_pooling": mode})


def pooled_env(settings: Settings) -> dict[str, str]:
    return service_env(settings, DATABASE_POOLING=settings.database_pooling)


async def probe_settings(pooled: Settings) -> dict[str, str]:
    """What a probe's statement is planned with, through the worker's own probes engine."""
    services = open_services(pooled, lambda: AT)
    try:
        async with autocommit(services.probes) as conn:
            names = ", ".join(f"current_setting('{name}')" for name in PROBE_SETTINGS)
            row = (await conn.exec_driver_sql(f"SELECT {names}")).one()
    finally:
        await close_services(services)
    return dict(zip(PROBE_SETTINGS, row, strict=True))


async def server_sessions_settings(pooled: Settings) -> list[dict[str, str]]:
    """The settings of every server connection of the pool, seen by another client (the host
    application): ``POOL_SIZE`` transactions held at once take every server connection."""
    url = pooled.database_url.get_secret_value().replace("+asyncpg", "")
    clients = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(POOL_SIZE)]
    try:
        for client in clients:
            await client.execute("BEGIN")
        names = ", ".join(f"current_setting('{name}') AS \"{name}\"" for name in PROBE_SETTINGS)
        rows = [await client.fetchrow(f"SELECT {names}") for client in clients]
        pids = {await client.fetchval("SELECT pg_backend_pid()") for client in clients}
        assert len(pids) == POOL_SIZE
        return [dict(row) for row in rows if row is not None]
    finally:
        for client in clients:
            await client.close()


async def test_two_workers_through_transaction_pooling_send_each_reminder_once(
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    bouncers: dict[str, Server],
) -> None:
    """Two processes share two server connections for their ticks, batches and marks; a
    prepared statement or setting kept in a session would break or leak here."""
    users = [await data.user(email=f"u{i}@example.com") for i in range(10)]
    for i in range(200):
        await data.appointment(users[i % 10], AT + timedelta(minutes=60, seconds=-i))
    env = pooled_env(behind(settings, bouncers["transaction"], "transaction"))
    args = ["run", "appointment_reminders", "--at", AT.isoformat()]
    first, second = await asyncio.gather(
        asyncio.to_thread(run_notifier, args, env), asyncio.to_thread(run_notifier, args, env)
    )
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert json.loads(first.stdout)["sent"] + json.loads(second.stdout)["sent"] == 200
    ids = [m.parsed()["Message-ID"] for m in mailbox.messages]
    assert len(ids) == 200 and len(set(ids)) == 200
    assert {row["status"] for row in await ledger_rows(data.engine)} == {"sent"}


async def test_a_local_time_tick_through_transaction_pooling_sends_once(
    settings: Settings, data: Data, mailbox: CaptureServer, bouncers: dict[str, Server]
) -> None:
    for i in range(5):
        await data.user(email=f"d{i}@example.com", settings={"digest_enabled": True})
    env = pooled_env(behind(settings, bouncers["transaction"], "transaction"))
    args = ["run", "daily_digest", "--at", "2026-03-08T07:00:00Z"]
    runs = [await asyncio.to_thread(run_notifier, args, env) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    assert [json.loads(run.stdout)["sent"] for run in runs] == [5, 0]
    assert len(mailbox.messages) == 5


async def test_every_job_runs_through_one_server_connection(
    settings: Settings, mailbox: CaptureServer, bouncers: dict[str, Server]
) -> None:
    """No tick or batch holds its transaction while it waits for another connection: with
    one server connection such a wait never ends (PgBouncer fails it after
    ``query_wait_timeout``), and workers sharing a few would deadlock."""
    services = open_services(behind(settings, bouncers["one"], "transaction"), lambda: NOW)
    try:
        await due_everywhere(SeedData(services.engine), NOW, "pat@example.com")
        for job in (*ALL_JOBS, *ALL_JOBS):
            await run_job(services, job, NOW)
        assert await run_statuses(services) == {"succeeded": 2 * len(ALL_JOBS)}
    finally:
        await close_services(services)
    expected = {kind: 1 for kind in EMAIL_JOBS.values()}
    assert kinds_to(mailbox.messages, "pat@example.com") == expected


async def test_a_worker_through_transaction_pooling_ticks_sends_and_reports_health(
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    bouncers: dict[str, Server],
    tmp_path: Path,
) -> None:
    """The long-running worker (arq, cron, its batches' queue, ``/health``'s probes) through
    two shared server connections, at the real clock's next minute."""
    user = await data.user()
    await data.appointment(user, datetime.now(UTC) + timedelta(minutes=59))
    port = free_port()
    off = {f"JOB_{job.upper()}_ENABLED": "false" for job in JOB_NAMES}
    env = pooled_env(behind(settings, bouncers["transaction"], "transaction"))
    env.update(off, JOB_APPOINTMENT_REMINDERS_ENABLED="true", HEALTH_PORT=str(port))
    worker = start_notifier(["worker"], env, tmp_path / "worker.log")
    try:
        await wait_until(lambda: _received(mailbox, 1), 75, "the worker's first reminder")
        url = f"http://127.0.0.1:{port}/health"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            status, body = response.status, await response.json()
    finally:
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 60)
    assert (status, body["database"], body["redis"]) == (200, "ok", "ok"), body
    assert code == 0, (tmp_path / "worker.log").read_text()
    assert len(mailbox.messages) == 1


async def _received(mailbox: CaptureServer, count: int) -> bool:
    return len(mailbox.messages) >= count


async def test_the_console_through_one_server_connection_lists_and_resends(
    settings: Settings,
    services: Services,
    data: Data,
    mailbox: CaptureServer,
    bouncers: dict[str, Server],
    tmp_path: Path,
) -> None:
    """``notifier web``'s deliveries search and a re-send (claim, send, mark) through a single
    server connection: no request holds one connection while it waits for another."""
    key = await reminder_failed(services, data, mailbox)
    pooled = behind(settings, bouncers["one"], "transaction")
    extra = {"ADMIN_PASSWORD": PASSWORD, "DATABASE_POOLING": "transaction"}
    for web in start_web(pooled, tmp_path, **extra):
        await up(web, "/admin/login", 200)
        status, rows, _ = await api_get(web, "/admin/api/deliveries")
        assert status == 200 and [row["status"] for row in rows] == ["failed"]
        status, row = await api_resend(web, resend_body(key))
        assert status == 200 and row["status"] == "sent"
    assert len(mailbox.messages) == 1


async def test_transaction_pooling_plans_probes_in_order_and_changes_no_server_session(
    settings: Settings, bouncers: dict[str, Server]
) -> None:
    pooled = behind(settings, bouncers["transaction"], "transaction")
    assert await probe_settings(pooled) == {"jit": "off", **IN_INDEX_ORDER}
    for seen in await server_sessions_settings(pooled):
        assert seen["enable_bitmapscan"] == "on"
        assert seen["max_parallel_workers_per_gather"] != "0"


async def test_session_pooling_connects_and_keeps_the_probes_settings(
    settings: Settings, data: Data, mailbox: CaptureServer, bouncers: dict[str, Server]
) -> None:
    """PgBouncer refuses unknown startup parameters (``jit`` was one): the worker sets its
    settings once a connection is open, and PgBouncer's reset clears them for the next."""
    pooled = behind(settings, bouncers["session"], "session")
    assert await probe_settings(pooled) == {"jit": "off", **IN_INDEX_ORDER}
    user = await data.user()
    await data.appointment(user, AT + timedelta(minutes=60))
    result = await asyncio.to_thread(
        run_notifier, ["run", "appointment_reminders", "--at", AT.isoformat()], pooled_env(pooled)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sent"] == 1 and len(mailbox.messages) == 1
    for seen in await server_sessions_settings(pooled):
        assert seen["enable_bitmapscan"] == "on"


async def test_check_passes_through_transaction_pooling_and_says_so(
    settings: Settings, bouncers: dict[str, Server]
) -> None:
    env = pooled_env(behind(settings, bouncers["transaction"], "transaction"))
    result = await asyncio.to_thread(run_notifier, ["check"], env)
    [line] = [line for line in result.stdout.splitlines() if "postgresql" in line]
    assert line.startswith("ok") and "schema at head" in line, result.stdout + result.stderr
    assert "transaction-mode pooler" in line


async def test_check_fails_session_pooling_behind_a_transaction_pooler(
    settings: Settings, bouncers: dict[str, Server]
) -> None:
    """The mistake otherwise found in production, as prepared-statement errors and settings
    leaking into the host application's sessions; a session pooler stays ``ok``."""
    wrong = pooled_env(behind(settings, bouncers["transaction"], "session"))
    result = await asyncio.to_thread(run_notifier, ["check"], wrong)
    [line] = [line for line in result.stdout.splitlines() if " postgresql " in line]
    assert line.startswith("FAIL") and "set DATABASE_POOLING=transaction" in line, result.stdout
    assert result.returncode == 1
    right = pooled_env(behind(settings, bouncers["session"], "session"))
    result = await asyncio.to_thread(run_notifier, ["check"], right)
    [line] = [line for line in result.stdout.splitlines() if "postgresql" in line]
    assert line.startswith("ok") and "schema at head" in line, result.stdout + result.stderr


@pytest.mark.parametrize(
    "command", [["worker"], ["web"], ["run", "appointment_reminders", "--at", AT.isoformat()]]
)
async def test_processes_refuse_session_pooling_behind_a_transaction_pooler(
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    bouncers: dict[str, Server],
    command: list[str],
) -> None:
    """Their session settings would stay on server connections the host application is lent
    next: each process stops at the start, naming the variable, before any tick sends."""
    user = await data.user()
    await data.appointment(user, AT + timedelta(minutes=60))
    wrong = pooled_env(behind(settings, bouncers["transaction"], "session"))
    result = await asyncio.to_thread(run_notifier, command, wrong, 60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "set DATABASE_POOLING=transaction" in result.stderr
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("route", "shared"), [("transaction", True), ("one", True), ("session", False), (None, False)]
)
async def test_shared_server_connections_are_told_by_backend_ids(
    settings: Settings, bouncers: dict[str, Server], route: str | None, shared: bool
) -> None:
    """Two clients open at once see one backend only through a transaction pooler; PostgreSQL
    itself (``None``) and a session pooler never lend a client's server connection."""
    target = settings if route is None else behind(settings, bouncers[route], "session")
    assert await shares_server_connections(target) is shared


async def test_migrate_refuses_transaction_pooling_naming_the_variable(
    settings: Settings, bouncers: dict[str, Server]
) -> None:
    env = pooled_env(behind(settings, bouncers["transaction"], "transaction"))
    result = await asyncio.to_thread(run_notifier, ["migrate"], env)
    assert result.returncode == 2
    assert "DATABASE_POOLING" in result.stderr and "DATABASE_URL" in result.stderr


def test_session_settings_are_plain_words_only() -> None:
    assert set_config_sql({"jit": "off"}, local=True) == "SELECT set_config('jit', 'off', true)"
    with pytest.raises(ValueError, match="plain setting"):
        set_config_sql({"jit": "off', true); DROP TABLE users; --"}, local=False)
