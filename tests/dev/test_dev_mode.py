"""``notifier dev`` as a person runs it: a real subprocess, no configuration, Ctrl-C to stop.

What is checked: the demo's mail of every registered kind reaches the inbox within two
minutes of the command starting, exactly once each, and so do the in-app user's rows and the
webhook user's signed posts, which dev mode's own receiver verifies; ``/health`` and the banner
say dev mode;
the SQLite stand-in holds the ledger; Ctrl-C exits 0 and frees every port; a PostgreSQL
``DATABASE_URL`` replaces the SQLite stand-in, and one holding somebody else's data is refused
unless ``--allow-existing-data`` is given.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.engine import make_engine
from notifier.db.schema import reminders_sent, users, workspaces
from notifier.dev.seed import DEMO_WORKSPACE_ID
from notifier.jobs.registry import tick_functions
from notifier.rules.kinds import IN_APP, JOB_KINDS, WEBHOOK
from tests.support.data import Data
from tests.support.dev import (
    DevProcess,
    expected_mail,
    expected_on,
    get_json,
    listening,
    poll,
)
from tests.support.worker import wait_until

TWO_MINUTES = timedelta(minutes=2)


def _arrival(message: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(message["received_at"]))


def test_demo_mail_of_every_kind_arrives_within_two_minutes(dev_run: DevProcess) -> None:
    expected = expected_mail()
    mailing = {JOB_KINDS[job] for job in tick_functions()} - {None}
    assert {kind for kind, _ in expected} == mailing  # every kind this build sends
    seconds_left = dev_run.started + TWO_MINUTES - datetime.now(dev_run.started.tzinfo)
    poll(
        lambda: dev_run.received() == expected,
        max(seconds_left.total_seconds(), 1),
        f"the demo's mail {expected}",
    )
    messages = dev_run.messages()
    assert all(_arrival(m) - dev_run.started <= TWO_MINUTES for m in messages)
    assert len({m["message_id"] for m in messages}) == len(messages)  # never twice


async def test_demo_in_app_rows_and_verified_webhooks_arrive_within_two_minutes(
    dev_run: DevProcess,
) -> None:
    rows, posts = expected_on(IN_APP), expected_on(WEBHOOK)
    assert rows and posts
    verified = sorted((kind, to, True) for kind, to in posts)
    left = dev_run.started + TWO_MINUTES - datetime.now(dev_run.started.tzinfo)

    async def arrived() -> bool:
        shown = await asyncio.to_thread(dev_run.in_app)
        return shown == rows and await asyncio.to_thread(dev_run.hooked) == verified

    await wait_until(arrived, max(left.total_seconds(), 1), f"in-app {rows}, webhooks {posts}")
    assert all(p["webhook_id"].startswith("msg_") for p in dev_run.webhooks())


def test_the_demo_digests_unsubscribe_link_works_on_this_runs_own_pages(
    dev_run: DevProcess,
) -> None:
    """Dev mode makes a SECRET_KEY for the run and serves ``notifier web``'s pages on loopback,
    so the digest's one-click link works as it would in production."""
    poll(lambda: "daily_digest" in {m["kind"] for m in dev_run.messages()}, 150, "the digest")
    [number] = [m["id"] for m in dev_run.messages() if m["kind"] == "daily_digest"]
    status, message = get_json(dev_run.url(f"/api/messages/{number}"))
    assert status == 200
    [link] = re.findall(
        r"Unsubscribe from these emails: (http://localhost:\d+/\S+)", message["text"]
    )
    assert "pages     http://localhost:" in dev_run.output()
    with urllib.request.urlopen(link, timeout=10) as page:
        assert page.status == 200 and b"daily digests" in page.read()
    form = urllib.parse.urlencode({"List-Unsubscribe": "One-Click"}).encode()
    with urllib.request.urlopen(link, data=form, timeout=10) as done:
        assert done.status == 200 and b"no longer receive" in done.read()


def test_health_says_dev_mode(dev_run: DevProcess) -> None:
    status, body = dev_run.health()
    assert status == 200, body
    assert (body["mode"], body["redis"], body["database"]) == ("dev", "ok", "ok")
    assert set(body["jobs"]) == set(tick_functions())


def test_banner_says_where_everything_is_and_how_to_stop(dev_run: DevProcess) -> None:
    out = dev_run.output()
    for fragment in (
        "DEV MODE",
        f"http://localhost:{dev_run.inbox_port}",
        f"http://127.0.0.1:{dev_run.health_port}/health",
        f"SQLite file {dev_run.data_dir.resolve()}",
        "in-process fakeredis",
        "Seeded the demo workspace",
        f"in-app    http://localhost:{dev_run.inbox_port}/in-app",
        f"webhooks  http://localhost:{dev_run.inbox_port}/webhooks",
        "secret generated for this run",
        "Stop with Ctrl-C",
    ):
        assert fragment in out
    assert "Traceback" not in out and "whsec_" not in out  # the secret is never printed


def test_the_inbox_is_marked_dev_and_sandboxes_email_html(dev_run: DevProcess) -> None:
    poll(lambda: len(dev_run.messages()) > 0, 60, "a first message")
    first = dev_run.messages()[0]["id"]
    with urllib.request.urlopen(dev_run.url("/")) as page:
        assert "DEV MODE" in page.read().decode()
    with urllib.request.urlopen(dev_run.url(f"/messages/{first}/html")) as body:
        assert body.headers["Content-Security-Policy"].startswith("sandbox;")


def test_the_sqlite_stand_in_records_every_slot(dev_run: DevProcess) -> None:
    kinds = {kind for kind, _ in expected_mail()}
    poll(lambda: {k for k, _ in dev_run.received()} >= kinds, 130, "every kind in the inbox")
    database = dev_run.data_dir / "notifier-dev.sqlite3"
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT kind FROM reminders_sent WHERE status = 'sent'").fetchall()
    assert {kind for (kind,) in rows} == kinds


def test_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    run = DevProcess.start(tmp_path)
    run.wait_ready()
    poll(lambda: len(run.messages()) > 0, 60, "the first demo message")

    assert run.interrupt() == 0, run.output()

    out = run.output()
    assert "notifier dev stopped." in out and "Traceback" not in out
    assert not any(listening(p) for p in (run.inbox_port, run.health_port, run.smtp_port))
    with sqlite3.connect(run.data_dir / "notifier-dev.sqlite3") as conn:
        states = dict(conn.execute("SELECT status, count(*) FROM reminders_sent GROUP BY status"))
    assert "pending" not in states and states.get("sent", 0) >= 1


def test_the_data_dir_ignores_itself_for_git(dev_run: DevProcess) -> None:
    assert (dev_run.data_dir / ".gitignore").read_text().splitlines()[-1] == "*"


@pytest.fixture
async def pg_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


async def _count(engine: AsyncEngine, table: object, *where: object) -> int:
    async with engine.connect() as conn:
        stmt = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int(await conn.scalar(stmt) or 0)


def _run_until_first_mail(folder: Path, database_url: str, *args: str) -> DevProcess:
    run = DevProcess.start(folder, *args, DATABASE_URL=database_url)
    run.wait_ready()
    poll(lambda: len(run.messages()) > 0, 60, "the first demo message")
    assert run.interrupt() == 0, run.output()
    return run


async def test_a_postgres_url_replaces_the_sqlite_stand_in(
    database_url: str, pg_engine: AsyncEngine, tmp_path: Path
) -> None:
    first = _run_until_first_mail(tmp_path / "first", database_url)
    assert "postgresql" in first.output() and "SQLite" not in first.output()
    assert not (tmp_path / "first" / "data").exists()
    demo_users = users.c.workspace_id == DEMO_WORKSPACE_ID
    seeded = await _count(pg_engine, users, demo_users)
    assert seeded > 0 and await _count(pg_engine, reminders_sent) > 0

    # A database holding only the demo is not refused; the demo is replaced, not doubled.
    _run_until_first_mail(tmp_path / "second", database_url)
    assert await _count(pg_engine, users, demo_users) == seeded


async def test_a_postgres_url_with_other_data_is_refused_unless_allowed(
    database_url: str, pg_engine: AsyncEngine, tmp_path: Path
) -> None:
    theirs = await Data(pg_engine).user(email="real.person@example.com")
    refused = DevProcess.start(tmp_path / "refused", DATABASE_URL=database_url)
    assert refused.proc.wait(60) == 2, refused.output()
    assert "refusing to start" in refused.output() and "--allow-existing-data" in refused.output()
    assert "real.person" not in refused.output()
    assert await _count(pg_engine, workspaces, workspaces.c.id == DEMO_WORKSPACE_ID) == 0

    _run_until_first_mail(tmp_path / "allowed", database_url, "--allow-existing-data")
    assert await _count(pg_engine, workspaces, workspaces.c.id == DEMO_WORKSPACE_ID) == 1
    assert await _count(pg_engine, users, users.c.id == theirs) == 1
