"""Processes the benchmark runs and watches: the SMTP sink, worker processes, /proc readings.

CPU seconds per process (from ``/proc/<pid>/stat``) tell which of the sink, the worker(s),
PostgreSQL and Redis used the two cores during a phase: on a machine this small the stage
that holds a phase back is the one whose process saturates a core.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import service_env, start_notifier
from tests.support.servers import free_port, wait_for_port

from notifier.config import Settings
from notifier.rules.kinds import JOB_NAMES

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Accepted:
    """One message the sink accepted: when (unix time) and its ``Message-ID``."""

    at: float
    message_id: str


@dataclass
class SinkProcess:
    """``python -m bench.sink`` on a free port; ``stop`` returns what it accepted."""

    port: int
    out: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, folder: Path, name: str, mode: str = "chunking") -> SinkProcess:
        port, out = free_port(), folder / f"sink-{name}.txt"
        argv = [sys.executable, "-m", "bench.sink", str(port), str(out), mode]
        with (folder / f"sink-{name}.log").open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 (our own argv)
                argv, cwd=Path(__file__).parent.parent, stdout=log, stderr=log
            )
        wait_for_port(port, proc=proc)
        return cls(port, out, proc)

    def stop(self) -> list[Accepted]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        return [_accepted(line) for line in self.out.read_text().splitlines() if line]


def _accepted(line: str) -> Accepted:
    at, _, mid = line.partition(" ")
    return Accepted(float(at), mid)


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """A worker with no cron of its own: the benchmark enqueues each tick itself."""
    off = {f"JOB_{job.upper()}_ENABLED": "false" for job in JOB_NAMES}
    env = service_env(settings, HEALTH_PORT=str(free_port()), LOG_LEVEL="WARNING", **off)
    env["SMTP_POOL_SIZE"] = str(settings.smtp_pool_size)
    env["BATCH_SIZE"] = str(settings.batch_size)
    env.update(extra)
    return env


def start_workers(settings: Settings, folder: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` real ``notifier worker`` processes; logs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        start_notifier(["worker"], worker_env(settings), folder / f"worker-{i}.log")
        for i in range(count)
    ]


def stop_workers(workers: Iterable[subprocess.Popen[bytes]]) -> None:
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    for proc in workers:
        proc.wait(90)


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User + system CPU of one process so far (0 once it is gone); with ``reaped``, also
    that of its children it has waited for (PostgreSQL's backends and autovacuum workers that
    ended: the postmaster reaps them, and their CPU would otherwise drop out of the sum)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    own = int(fields[11]) + int(fields[12])
    children = int(fields[13]) + int(fields[14]) if reaped else 0
    return (own + children) / _TICKS


def rss_mib(pid: int) -> float:
    """Resident set size of one process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (PostgreSQL's backends, say)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


# Process trees whose members come and go (a backend per connection, autovacuum workers):
# their CPU counts the reaped children too, so a server's figure does not drop when one ends.
SERVERS = frozenset({"postgres", "redis"})


def cpu_snapshot(groups: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process tree (a server's with its ended children)."""
    return {
        name: sum(cpu_seconds(p, name in SERVERS) for p in descendants(pid))
        for name, pid in groups.items()
    }


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}
