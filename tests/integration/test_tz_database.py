"""Every process computes with one tz database: the bundled ``tzdata`` unless TZ_DATABASE=system.

zoneinfo prefers the host's zone files, so each test gives the process a host whose zone files
lie: ``PYTHONTZPATH`` points at a folder where ``America/New_York`` holds Tokyo's rules and
``tzdata.zi`` claims release 1999z. A process that reads the bundled database is not fooled; one
told TZ_DATABASE=system is (which shows the doctored host really is in the way).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import aiohttp
import pytest

from notifier.config import Settings
from notifier.dev.banner import BannerFacts, banner
from notifier.dev.standins import Standins
from notifier.timemath.tz_database import (
    TzDatabase,
    bundled_version,
    system_version,
    version_line,
)
from tests.support.data import Data
from tests.support.processes import run_notifier, service_env, start_notifier
from tests.support.servers import free_port, wait_for_port
from tests.support.smtp import CaptureServer

AT = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # New York is on EDT (UTC-4), Tokyo on UTC+9
STARTS = AT + timedelta(minutes=60)  # 11:00 in New York, 00:00 the next day in Tokyo
FAKE_RELEASE = "1999z"


@pytest.fixture
def lying_host(tmp_path: Path) -> Path:
    """A zone folder whose New York is Tokyo, with a release line of its own."""
    folder = tmp_path / "zoneinfo"
    (folder / "America").mkdir(parents=True)
    tokyo = resources.files("tzdata.zoneinfo").joinpath("Asia", "Tokyo").read_bytes()
    (folder / "America" / "New_York").write_bytes(tokyo)
    (folder / "tzdata.zi").write_text(f"# version {FAKE_RELEASE}\n# more lines\n")
    return folder


def test_the_release_is_read_from_the_version_line(tmp_path: Path) -> None:
    assert version_line(["# version 2026f\n"]) == "2026f"
    assert version_line(["# redo posix_only"]) == "unknown"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "tzdata.zi").write_text("# version 2024a\n")
    assert system_version([str(tmp_path / "a"), str(tmp_path / "b")]) == "2024a"
    assert system_version([str(tmp_path / "a")]) == "unknown"
    assert bundled_version()[:2] == "20"  # the package's release, e.g. 2026f


@pytest.mark.parametrize(("choice", "local_start"), [(None, "11:00"), ("system", "00:00")])
async def test_the_worker_computes_with_the_bundled_database_unless_told_otherwise(
    settings: Settings,
    data: Data,
    mailbox: CaptureServer,
    lying_host: Path,
    choice: str | None,
    local_start: str,
) -> None:
    user = await data.user(timezone="America/New_York")
    await data.appointment(user, STARTS)
    env = service_env(settings, PYTHONTZPATH=str(lying_host))
    if choice is not None:
        env["TZ_DATABASE"] = choice
    args = ["run", "appointment_reminders", "--at", AT.isoformat()]
    result = await asyncio.to_thread(run_notifier, args, env)
    assert result.returncode == 0, result.stderr
    [message] = mailbox.messages
    assert f", {local_start}" in str(message.parsed()["Subject"])


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, f"bundled (the tzdata package), IANA release {bundled_version()}"),
        ("system", f"system (the host's zone files), IANA release {FAKE_RELEASE}"),
    ],
)
async def test_check_names_the_database_and_its_release(
    settings: Settings, lying_host: Path, choice: str | None, expected: str
) -> None:
    env = service_env(settings, PYTHONTZPATH=str(lying_host))
    if choice is not None:
        env["TZ_DATABASE"] = choice
    result = await asyncio.to_thread(run_notifier, ["check"], env)
    [line] = [ln for ln in result.stdout.splitlines() if "tz_database" in ln]
    assert line.split(None, 2) == ["ok", "tz_database", expected], result.stdout


async def test_health_reports_the_bundled_database_on_a_lying_host(
    settings: Settings, lying_host: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env(settings, PYTHONTZPATH=str(lying_host), HEALTH_PORT=str(port))
    worker = start_notifier(["worker"], env, tmp_path / "worker.log")
    try:
        await asyncio.to_thread(wait_for_port, port, 60, worker)
        url = f"http://127.0.0.1:{port}/health"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            body = json.loads(await response.text())
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.wait, 60)
    assert body["tz_database"] == {"source": "bundled", "version": bundled_version()}


def test_the_dev_banner_names_the_database_and_its_release() -> None:
    facts = BannerFacts(
        standins=Standins(database=True, redis=True, smtp=True),
        inbox_url="http://127.0.0.1:8025",
        catcher="127.0.0.1:1025",
        health_url="http://127.0.0.1:8080/health",
        database="/tmp/dev.sqlite3",
        smtp_relay="127.0.0.1:1025",
        jobs=["appointment_reminders"],
        demo=None,
        expected=[],
        tz_database=TzDatabase("bundled", "2026f"),
    )
    line = "  zones     bundled (the tzdata package), IANA release 2026f   (TZ_DATABASE)"
    assert line in banner(facts).splitlines()
