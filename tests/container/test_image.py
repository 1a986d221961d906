"""The worker's image, built from the Dockerfile as it is and run with podman.

This tests the image, not the package: what runs is the ``notifier`` that the Dockerfile
installed, as the user it sets, with its ENTRYPOINT, CMD, HEALTHCHECK and STOPSIGNAL, against
the suite's own PostgreSQL and Redis and an SMTP capture that requires a login. One worker
container is started for the module (its first cron tick is up to a minute away) and each test
below checks one thing it did: migrate an empty database, send a due reminder, answer the
healthcheck from inside and ``/health`` from outside, drain a send in flight on SIGTERM and exit 0
within the compose file's stop grace period, and never show a secret.

The base image is a stand-in (scripts/build-image says how and why): Debian's Python 3.11, not
the real base's Python built from source. README "The container, tested" says what that leaves.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from ruamel.yaml import YAML
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.engine import make_engine
from notifier.db.schema import job_runs
from notifier.timemath.tz_database import bundled_version
from tests.conftest import _admin, db_url
from tests.container.podman import IMAGE, REPO, Secrets, build_image, podman
from tests.support.data import Data
from tests.support.ledger import statuses
from tests.support.servers import Server, free_port
from tests.support.smtp import CaptureHandler, CaptureServer
from tests.support.worker import wait_until

USER_UID = "10001"
NOTIFIER_TABLES = ("alembic_version", "reminders_sent", "job_runs")
RECIPIENT = "pat@example.com"
SMTP_USER = "notifier"
# Long enough that SIGTERM surely lands while the reminder is being handed over.
SEND_SECONDS = 5.0
FIRST_TICK_TIMEOUT = 150.0  # the worker's start, up to a minute to its first tick, the tick
# The capture requires a login over plain SMTP on loopback, which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def stop_grace_seconds() -> int:
    """The compose file's ``stop_grace_period`` for the worker (``45s``)."""
    compose: dict[str, Any] = YAML(typ="safe").load((REPO / "docker-compose.yml").read_text())
    grace = str(compose["services"]["worker"]["stop_grace_period"])
    match = re.fullmatch(r"(\d+)s", grace)
    assert match, f"stop_grace_period {grace!r}: seconds expected"
    return int(match.group(1))


@dataclass
class InFlightHandler(CaptureHandler):
    """The suite's capture handler, telling when a message has started to arrive."""

    receiving: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.receiving.set()
        return await super().handle_DATA(server, session, envelope)


class LoginCaptureServer(CaptureServer):
    """The capture server, refusing mail until the client logged in with ``password``: the
    SMTP_PASSWORD secret must reach the worker to be sent at all."""

    def __init__(self, port: int, password: str) -> None:
        super().__init__(port)
        self.in_flight = InFlightHandler(delay=SEND_SECONDS)
        self.handler = self.in_flight
        self.password = password

    def start(self) -> None:
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=False,
        )
        self._controller.start()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (SMTP_USER, self.password)
        return AuthResult(success=ok)


@dataclass
class WorkerRun:
    """What the image did, gathered once for the module's tests."""

    secrets: dict[str, str]
    migrate: subprocess.CompletedProcess[str]
    check: subprocess.CompletedProcess[str] | None = None
    health_status: int = 0
    health_body: dict[str, Any] = field(default_factory=dict)
    healthcheck: subprocess.CompletedProcess[str] | None = None
    health_state: str = ""
    pid1_status: str = ""
    inspect: list[dict[str, Any]] = field(default_factory=list)
    inspect_text: str = ""
    image_text: str = ""
    stop_seconds: float = 0.0
    exit_code: int | None = None
    logs: str = ""
    sent: int = 0
    ledger: dict[str, int] = field(default_factory=dict)
    tick: dict[str, Any] = field(default_factory=dict)
    notifier_tables: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def image() -> str:
    seconds = build_image()
    print(f"image {IMAGE} built in {seconds:.1f} s")
    return IMAGE


@pytest.fixture(scope="module")
def secret_values() -> dict[str, str]:
    token = uuid.uuid4().hex
    return {
        "database": f"db-{token}",
        "SMTP_PASSWORD": f"smtp-{token}",
        "SECRET_KEY": f"key-{token}",
        "ADMIN_PASSWORD": f"admin-{token}",
    }


@pytest.fixture(scope="module")
def login_smtp(secret_values: dict[str, str]) -> Iterator[LoginCaptureServer]:
    server = LoginCaptureServer(free_port(), secret_values["SMTP_PASSWORD"])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def empty_database(pg: Server) -> AsyncIterator[str]:
    """A database with nothing in it: the image's ``migrate`` makes the schema."""
    name = f"image_{uuid.uuid4().hex[:10]}"
    await _admin(pg, f"CREATE DATABASE {name}")
    yield name
    await _admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _plain_env(redis_server: Server, smtp: CaptureServer, health_port: int) -> dict[str, str]:
    """What is no secret: on the command line, where ``podman inspect`` shows it."""
    return {
        "REDIS_URL": redis_server.url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_USERNAME": SMTP_USER,
        "SMTP_RETRY_BASE_SECONDS": "0.01",
        "MAIL_FROM": "notifier@practice.test",
        "APP_BASE_URL": "https://app.practice.test",
        "PUBLIC_BASE_URL": "https://notify.practice.test",
        "HEALTH_PORT": str(health_port),
    }


def _run_options(secrets: Secrets, env: dict[str, str], *, healthcheck: bool) -> list[str]:
    """Host networking (the suite's servers are on loopback), secrets and the plain variables.
    The worker keeps its HEALTHCHECK with no timer (podman would ask systemd, absent here, for
    one; the test runs it itself); a one-off command has none."""
    health = ["--health-interval", "disable"] if healthcheck else ["--no-healthcheck"]
    options = ["--network", "host", *health, *secrets.run_options()]
    return options + [opt for key, value in env.items() for opt in ("--env", f"{key}={value}")]


async def _run_once(
    args: list[str], secrets: Secrets, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``notifier ARGS`` in a throwaway container of the image."""
    options = _run_options(secrets, env, healthcheck=False)
    return await asyncio.to_thread(podman, "run", "--rm", *options, IMAGE, *args)


async def _get_health(port: int) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/health"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, json.loads(await response.text())


async def _health_answers(port: int) -> bool:
    try:
        status, _ = await _get_health(port)
    except aiohttp.ClientError:
        return False
    return status == 200


async def _healthcheck_passes(name: str, run: WorkerRun) -> bool:
    """Runs the image's HEALTHCHECK command in the container, as the engine's timer would."""
    run.healthcheck = await asyncio.to_thread(podman, "healthcheck", "run", name)
    if run.healthcheck.returncode != 0:
        return False
    state = await asyncio.to_thread(podman, "inspect", "--format", "{{.State.Health.Status}}", name)
    run.health_state = state.stdout.strip()
    return True


def _secret_env(pg: Server, database: str, values: dict[str, str]) -> dict[str, str]:
    """The variables passed as podman secrets. PostgreSQL trusts loopback here, so any
    password in ``DATABASE_URL`` opens it; it must still never show."""
    plain_url = db_url(pg, database).replace("+asyncpg", "")
    with_password = plain_url.replace("notifier@", f"notifier:{values['database']}@")
    return {"DATABASE_URL": with_password, **{k: v for k, v in values.items() if k.isupper()}}


async def _seed_due_reminder(engine: AsyncEngine) -> None:
    """An appointment whose 60-minute reminder fell due a minute ago: the next tick sends it."""
    data = Data(engine)
    user = await data.user(email=RECIPIENT)
    await data.appointment(user, datetime.now(UTC) + timedelta(minutes=59))


async def _record_outcome(run: WorkerRun, engine: AsyncEngine, smtp: CaptureServer) -> None:
    """What the database, the capture and the image's metadata say after the worker stopped."""
    run.sent = len(smtp.messages)
    run.ledger = await statuses(engine)
    async with engine.connect() as conn:
        # In whichever schema NOTIFIER_SCHEMA puts them: the test is about the image.
        tables = await conn.execute(text("SELECT table_name FROM information_schema.tables"))
        run.notifier_tables = set(tables.scalars()) & set(NOTIFIER_TABLES)
        ticks = await conn.execute(
            select(job_runs).where(job_runs.c.job_name == "appointment_reminders")
        )
        run.tick = dict(ticks.mappings().first() or {})
    for args in (("image", "inspect", IMAGE), ("history", "--no-trunc", IMAGE)):
        run.image_text += (await asyncio.to_thread(podman, *args)).stdout


@pytest.fixture(scope="module")
async def worker_run(
    image: str,
    pg: Server,
    redis_server: Server,
    login_smtp: LoginCaptureServer,
    empty_database: str,
    secret_values: dict[str, str],
) -> AsyncIterator[WorkerRun]:
    """migrate, check, then a worker container stopped mid-send; everything it showed."""
    name = f"notifier-test-{uuid.uuid4().hex[:8]}"
    secrets = Secrets(name, _secret_env(pg, empty_database, secret_values))
    health_port = free_port()
    env = _plain_env(redis_server, login_smtp, health_port)
    engine = make_engine(db_url(pg, empty_database), pool_size=2)
    secrets.create()
    try:
        run = WorkerRun(secret_values, await _run_once(["migrate"], secrets, env))
        run.check = await _run_once(["check"], secrets, env)
        await _seed_due_reminder(engine)
        await _run_worker(run, name, secrets, env, health_port, login_smtp)
        await _record_outcome(run, engine, login_smtp)
        yield run
    finally:
        await asyncio.to_thread(podman, "rm", "--force", "--time", "0", name)
        secrets.remove()
        await engine.dispose()


async def _run_worker(
    run: WorkerRun,
    name: str,
    secrets: Secrets,
    env: dict[str, str],
    health_port: int,
    smtp: LoginCaptureServer,
) -> None:
    """The image's default command, started detached; stopped while it hands a reminder over.
    A wait that fails says so with the container's last log lines."""
    started = await asyncio.to_thread(
        podman,
        "run",
        "--detach",
        "--name",
        name,
        *_run_options(secrets, env, healthcheck=True),
        IMAGE,
    )
    assert started.returncode == 0, started.stderr
    try:
        await _watch_and_stop(run, name, health_port, smtp)
    except AssertionError as exc:
        logs = await asyncio.to_thread(podman, "logs", "--tail", "30", name)
        raise AssertionError(f"{exc}\ncontainer log:\n{logs.stdout}{logs.stderr}") from None
    finally:
        inspected = await asyncio.to_thread(podman, "container", "inspect", name)
        run.inspect_text = inspected.stdout
        run.inspect = json.loads(inspected.stdout or "[]")
        if run.inspect:
            run.exit_code = run.inspect[0]["State"]["ExitCode"]
        logs = await asyncio.to_thread(podman, "logs", name)
        run.logs = logs.stdout + logs.stderr


async def _watch_and_stop(
    run: WorkerRun, name: str, health_port: int, smtp: LoginCaptureServer
) -> None:
    await wait_until(lambda: _health_answers(health_port), 60, "/health answers 200")
    run.health_status, run.health_body = await _get_health(health_port)
    await wait_until(lambda: _healthcheck_passes(name, run), 60, "the HEALTHCHECK passes")
    pid1 = await asyncio.to_thread(podman, "exec", name, "cat", "/proc/1/status")
    run.pid1_status = pid1.stdout
    await wait_until(
        lambda: asyncio.to_thread(smtp.in_flight.receiving.wait, 0.5),
        FIRST_TICK_TIMEOUT,
        "the worker's first tick hands the reminder to SMTP",
    )
    began = time.monotonic()
    stop = await asyncio.to_thread(
        podman, "stop", "--time", str(stop_grace_seconds()), name, timeout=120
    )
    run.stop_seconds = time.monotonic() - began
    assert stop.returncode == 0, stop.stderr
    print(f"SIGTERM with a send in flight: stopped in {run.stop_seconds:.1f} s")


def test_the_image_runs_as_its_unprivileged_user(worker_run: WorkerRun) -> None:
    config = worker_run.inspect[0]["Config"]
    assert config["User"] == USER_UID
    [uids] = [ln.split()[1:] for ln in worker_run.pid1_status.splitlines() if ln[:4] == "Uid:"]
    assert uids == [USER_UID] * 4, worker_run.pid1_status  # real, effective, saved, filesystem


def test_migrate_makes_the_schema_in_an_empty_database(worker_run: WorkerRun) -> None:
    assert worker_run.migrate.returncode == 0, worker_run.migrate.stderr
    assert worker_run.notifier_tables == set(NOTIFIER_TABLES)


def test_check_in_the_image_reaches_postgresql_redis_and_the_relay(worker_run: WorkerRun) -> None:
    """The lines the image answers for: its secrets arrived (the relay took the login) and its
    tz database is the bundled one. What check demands of the database's roles and of Redis'
    settings is tested against the package (tests/integration/test_operator_commands.py)."""
    check = worker_run.check
    assert check is not None
    lines = {ln.split()[1]: ln for ln in check.stdout.splitlines() if len(ln.split()) > 2}
    assert "schema at head" in lines["postgresql"] and lines["postgresql"].startswith("ok")
    assert not lines["redis"].startswith("FAIL"), lines["redis"]
    assert "with login): connected" in lines["smtp"] and lines["smtp"].startswith("ok")
    bundled = f"bundled (the tzdata package), IANA release {bundled_version()}"
    assert lines["tz_database"].split(None, 2) == ["ok", "tz_database", bundled]


def test_the_worker_sends_a_due_reminder_on_its_tick(worker_run: WorkerRun) -> None:
    assert worker_run.sent == 1
    assert worker_run.ledger == {"sent": 1}
    assert worker_run.tick["status"] == "succeeded" and worker_run.tick["sent"] == 1


def test_health_is_200_from_outside_and_the_healthcheck_passes_inside(
    worker_run: WorkerRun,
) -> None:
    assert worker_run.health_status == 200, worker_run.health_body
    body = worker_run.health_body
    assert (body["status"], body["redis"], body["database"]) == ("ok", "ok", "ok")
    assert body["tz_database"] == {"source": "bundled", "version": bundled_version()}
    probe = worker_run.healthcheck
    assert probe is not None
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert worker_run.health_state == "healthy"
    compose: dict[str, Any] = YAML(typ="safe").load((REPO / "docker-compose.yml").read_text())
    assert (
        worker_run.inspect[0]["Config"]["Healthcheck"]["Test"]
        == (compose["services"]["worker"]["healthcheck"]["test"])
    )


def test_sigterm_drains_the_send_in_flight_and_exits_0_within_the_grace_period(
    worker_run: WorkerRun,
) -> None:
    state = worker_run.inspect[0]["State"]
    assert worker_run.exit_code == 0, (state, worker_run.logs[-3000:])
    assert state["OOMKilled"] is False
    assert worker_run.stop_seconds < stop_grace_seconds()
    events = [json.loads(line).get("event") for line in worker_run.logs.splitlines() if line]
    assert "waiting_for_running_ticks" in events and events[-1] == "worker_stopped", events
    # The reminder that was being handed over when SIGTERM came went out and was recorded.
    assert worker_run.sent == 1 and worker_run.ledger == {"sent": 1}


def test_no_secret_in_inspect_output_or_logs(worker_run: WorkerRun) -> None:
    check = worker_run.check
    assert check is not None
    shown = {
        "podman container inspect": worker_run.inspect_text,
        "podman image inspect and history": worker_run.image_text,
        "the worker's logs": worker_run.logs,
        "migrate's output": worker_run.migrate.stdout + worker_run.migrate.stderr,
        "check's output": check.stdout + check.stderr,
        "/health": json.dumps(worker_run.health_body),
    }
    assert worker_run.inspect_text and worker_run.logs
    for where, text_ in shown.items():
        for name, secret in worker_run.secrets.items():
            assert secret not in text_, f"{name} shows in {where}"
        assert RECIPIENT not in text_, f"the recipient's address shows in {where}"
