"""Throwaway PostgreSQL and Redis servers on free loopback ports, for tests and local runs.

Run ``python -m tests.support.servers`` to start both and print the environment to use; the
test suite starts its own through the same functions and stops them when it ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Polls until the server accepts connections; fails loudly if it died or never came up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


def _wait_for_command(argv: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(argv, capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{argv[0]} did not report ready within {timeout}s")


# Loaded where the machine has it: the benchmark splits PostgreSQL's time by statement with it
# (``bench.statements``); its cost is a hash lookup a statement.
STATEMENT_STATS = "pg_stat_statements"


def preloads_statement_stats() -> bool:
    """Whether this machine's PostgreSQL has the statement statistics to load."""
    folders = (Path(d).parent / "lib" for d in PG_BIN_DIRS)
    return any((folder / f"{STATEMENT_STATS}.so").exists() for folder in folders)


def _preloaded() -> list[str]:
    """``-c shared_preload_libraries=…`` for the statement statistics, if installed."""
    if preloads_statement_stats():
        return ["-c", f"shared_preload_libraries={STATEMENT_STATS}"]
    return []


def _pg_bin(name: str) -> str:
    for folder in PG_BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL binary {name!r} not found: install PostgreSQL 15")
    return found


def _as_postgres_user() -> list[str]:
    """initdb refuses to run as root; CI runs as root, so drop to the postgres account."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class Server:
    """A running server process that can be stopped and started again on the same port."""

    name: str
    port: int
    argv: list[str]
    url: str
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    ready: list[str] | None = None  # a command that exits 0 once the server accepts work

    def start(self) -> None:
        """Starts and waits until ready; a start that fails or is interrupted stops the process
        (it runs in a session of its own, so nothing else would)."""
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log, start_new_session=True)
        try:
            wait_for_port(self.port, proc=self.proc)
            if self.ready:
                _wait_for_command(self.ready)
        except BaseException:
            self.stop()
            raise

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        for cleanup in self.cleanups:
            cleanup()


def start_postgres(base: Path, settings: Mapping[str, str] | None = None) -> Server:
    """initdb into ``base`` (unless it holds a cluster already: the benchmark keeps its
    10,000,000-user data set between runs) and start a fast, non-durable PostgreSQL on a free
    port; ``settings`` are more ``-c name=value`` options (the benchmark sizes its buffers)."""
    data = base / "pgdata"
    sock = base / "pgsock"
    for folder in (data, sock):
        folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        for folder in (data, sock):
            shutil.chown(folder, "postgres")
    if not (data / "PG_VERSION").exists():
        _initdb(data)
    port = free_port()
    argv = [
        *_as_postgres_user(),
        _pg_bin("postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        str(sock),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=300",
        "-c",
        "timezone=UTC",
        *_preloaded(),
        *(arg for name, value in (settings or {}).items() for arg in ("-c", f"{name}={value}")),
    ]
    url = f"postgresql+asyncpg://notifier@127.0.0.1:{port}/postgres"
    ready = [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "notifier", "-q"]
    server = Server("postgres", port, argv, url, base, ready=ready)
    server.start()
    return server


def _initdb(data: Path) -> None:
    subprocess.run(
        [
            *_as_postgres_user(),
            _pg_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "notifier",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )


def start_redis(base: Path) -> Server:
    """A Redis without persistence on a free port; fails loudly when redis-server is missing."""
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server not found: apt-get install redis-server")
    port = free_port()
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(base),
    ]
    server = Server("redis", port, argv, f"redis://127.0.0.1:{port}/0", base)
    server.start()
    return server


@contextlib.contextmanager
def local_servers(
    postgres_settings: Mapping[str, str] | None = None,
) -> Iterator[tuple[Server, Server]]:
    """Both servers in a temporary folder, removed afterwards; whatever started is stopped
    however the block ends, also when it ends while the second server is starting."""
    base = Path(tempfile.mkdtemp(prefix="notifier-servers-"))
    os.chmod(base, 0o755)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        pg = start_postgres(base / "pg", postgres_settings)
        stack.callback(pg.close)
        redis = start_redis(base)
        stack.callback(redis.close)
        yield pg, redis


# Each ends ``main`` as Ctrl-C does. The servers run in sessions of their own (a Ctrl-C meant
# for this helper must not reach them first), so no signal to this process ever reaches them:
# only the cleanup below stops them. SIGKILL cannot be caught; it leaves them running.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    """The first stop signal unwinds ``main`` (and so stops the servers); later ones are
    ignored, so that a second signal cannot cut the cleanup short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> None:
    """Starts both servers and an SMTP capture server, prints the environment, and runs until
    Ctrl-C, SIGTERM or SIGHUP; any of them stops all three."""
    from tests.support.smtp import run_capture_server_forever

    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_like_ctrl_c)
    with contextlib.suppress(KeyboardInterrupt), local_servers() as (pg, redis):
        smtp_port = free_port()
        print(f"export DATABASE_URL={pg.url}")
        print(f"export REDIS_URL={redis.url}")
        print(f"export SMTP_HOST=127.0.0.1 SMTP_PORT={smtp_port}")
        print("# Ctrl-C (or SIGTERM) stops all three.", flush=True)
        run_capture_server_forever(smtp_port, sys.stdout)


if __name__ == "__main__":
    main()
