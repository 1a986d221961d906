"""Where a worker's CPU goes: the sending pipeline in this process, once plain, once profiled.

The plain run is the pipeline without arq (one process, batch after batch, as ``notifier
run`` does); the profiled run is the same under ``cProfile``, its own time summed per stage
(by the package the code lives in). cProfile slows Python code, so the shares matter, not
the absolute times.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from bench import appointments
from bench.lab import Lab, utc_now
from bench.procs import SinkProcess
from bench.sending import with_port
from notifier.app import close_services, open_services
from notifier.services import appointment_reminders
from notifier.services.counts import TickCounts

# First match wins: (stage, fragment of the code's file name).
STAGES = (
    ("SMTP client (aiosmtplib, notifier's pipelining)", "/aiosmtplib/"),
    ("SMTP client (aiosmtplib, notifier's pipelining)", "/notifier/delivery/pipelining"),
    ("templates (Jinja2)", "/jinja2/"),
    ("templates (Jinja2)", "/templates/"),
    ("database (SQLAlchemy)", "/sqlalchemy/"),
    ("database (asyncpg)", "/asyncpg/"),
    ("MIME and email contexts", "/notifier/content/"),
    ("notifier pipeline (claim, plan, dispatch)", "/notifier/"),
    ("event loop, sockets (asyncio)", "/asyncio/"),
    ("stdlib email (address parsing, header encoding)", "/email/"),
    ("metrics and logs", "/prometheus_client/"),
    ("metrics and logs", "/structlog/"),
    ("arq and Redis", "/arq/"),
    ("arq and Redis", "/redis/"),
    ("C built-ins (socket I/O, encoding, hashing)", "~"),
)
TOP = 12


@dataclass(frozen=True)
class Profile:
    """One plain and one profiled in-process run of ``n`` reminders."""

    n: int
    plain_seconds: float
    plain_counts: TickCounts
    stages: list[tuple[str, float]]  # stage, share of profiled CPU
    top: list[tuple[str, float]]  # function, share of profiled CPU


async def run_profile(lab: Lab, n: int) -> Profile:
    plain_seconds, counts = await _in_process(lab, n, "profile-plain", None)
    profiler = cProfile.Profile()
    await _in_process(lab, n, "profile-cprofile", profiler)
    stats = pstats.Stats(profiler)
    return Profile(n, plain_seconds, counts, _stages(stats), _top(stats))


async def _in_process(
    lab: Lab, n: int, tag: str, profiler: cProfile.Profile | None
) -> tuple[float, TickCounts]:
    """One inline tick over ``n`` due reminders into a fresh sink; seconds and counts."""
    sink = SinkProcess.start(lab.folder, tag)
    services = open_services(with_port(lab, sink.port), utc_now)
    try:
        at = utc_now() + timedelta(seconds=1 + n / 20_000)
        await appointments.add_due(lab.dsn, n, at, tag)
        await asyncio.sleep(max(0.0, (at - utc_now()).total_seconds()))
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        counts = await appointment_reminders.run_tick(services, at)
        if profiler is not None:
            profiler.disable()
        return time.perf_counter() - started, counts
    finally:
        await close_services(services)
        sink.stop()
        await appointments.retire(lab.dsn, tag)


def _own_times(stats: pstats.Stats) -> dict[tuple[str, int, str], float]:
    raw = stats.stats  # type: ignore[attr-defined]
    return {key: value[2] for key, value in raw.items()}


def _stage(filename: str) -> str:
    for stage, fragment in STAGES:
        if fragment in filename:
            return stage
    return "other Python"


def _stages(stats: pstats.Stats) -> list[tuple[str, float]]:
    own = _own_times(stats)
    total = sum(own.values()) or 1.0
    sums: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), spent in own.items():
        sums[_stage(filename)] += spent
    return sorted(((k, v / total) for k, v in sums.items()), key=lambda kv: -kv[1])


def _top(stats: pstats.Stats) -> list[tuple[str, float]]:
    own = _own_times(stats)
    total = sum(own.values()) or 1.0
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:TOP]
    return [(_label(key), spent / total) for key, spent in ranked]


def _label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    short = "/".join(filename.split("/")[-2:]) if filename != "~" else "built-in"
    return f"{name} ({short}:{line})"
