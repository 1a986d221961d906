"""``python -m tests.support.servers`` (the README's "no servers yet?" helper) stops its
PostgreSQL and Redis however it is told to end: Ctrl-C, SIGTERM or a closed terminal (SIGHUP).

The servers run in sessions of their own, so a signal to the helper never reaches them: only the
helper's own cleanup can stop them, and this checks that it does, by the process table.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 90


def _start_helper() -> tuple[subprocess.Popen[str], int, int]:
    """The helper, running, and the ports of its PostgreSQL and Redis (read from its output)."""
    helper = subprocess.Popen(
        [sys.executable, "-m", "tests.support.servers"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert helper.stdout is not None
    output = ""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while "stops all three" not in output and time.monotonic() < deadline:
        line = helper.stdout.readline()
        if not line:  # the helper ended before it was ready
            break
        output += line
    pg = re.search(r"DATABASE_URL=\S+@127\.0\.0\.1:(\d+)/", output)
    redis = re.search(r"REDIS_URL=redis://127\.0\.0\.1:(\d+)/", output)
    assert pg and redis, output
    return helper, int(pg.group(1)), int(redis.group(1))


def _server_pids(pg_port: int, redis_port: int) -> list[int]:
    """Processes of this machine running a PostgreSQL or Redis on the helper's ports (Redis
    rewrites its command line to ``redis-server 127.0.0.1:PORT``)."""
    wanted = re.compile(
        rf"^\S*/postgres\b.* -p {pg_port}(?: |$)|^\S*redis-server\b.*[ :]{redis_port}(?: |$)"
    )
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        if wanted.search(command.strip()):
            found.append(int(entry.name))
    return found


def _end(helper: subprocess.Popen[str], pg_port: int, redis_port: int) -> None:
    """After a failed test: the helper asked to stop, then anything left ended by force."""
    if helper.poll() is None:
        helper.terminate()
        try:
            helper.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait(10)
    for pid in _server_pids(pg_port, redis_port):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda sig: sig.name
)
def test_any_stop_signal_stops_both_servers(sig: signal.Signals) -> None:
    helper, pg_port, redis_port = _start_helper()
    try:
        running = _server_pids(pg_port, redis_port)
        assert len(running) >= 2, running  # the postmaster and redis-server, at least
        helper.send_signal(sig)
        code = helper.wait(STOP_TIMEOUT_SECONDS)
        leaked = _server_pids(pg_port, redis_port)
    finally:
        _end(helper, pg_port, redis_port)  # never leaves them running, whatever happened
    assert code == 0
    assert leaked == [], f"still running after {sig.name}: {leaked}"
