"""Phases that send: the raw blast (the ceiling) and end to end through real worker processes.

End to end, ``n`` appointment reminders fall due at one instant ``t0``; at ``t0`` the
benchmark enqueues the tick as arq's cron would (``cron:appointment_reminders:<ms>``) and
the worker(s) do the rest: selection, fan-out into batch jobs, claims, rendering, SMTP into
the sink, ``sent`` marks. Lateness is each message's acceptance by the sink minus its due
instant (its slot, joined through ``Message-ID``).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from bench import appointments, statements
from bench.blast import blast
from bench.common import percentile
from bench.lab import Lab, cron_job_id, utc_now, workers_ready
from bench.procs import Accepted, SinkProcess, cpu_snapshot, cpu_used, rss_mib, start_workers
from bench.procs import stop_workers as stop_processes
from bench.statements import Statement
from notifier.config import Settings

JOB = "appointment_reminders"


@dataclass
class SendRun:
    """One sending phase's measurements (times are unix seconds)."""

    label: str
    workers: int
    n: int
    started: float
    accepted: list[Accepted]
    lateness: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    rss: list[tuple[float, float]] = field(default_factory=list)
    job_run: dict[str, int] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max(a.at for a in self.accepted) - self.started if self.accepted else 0.0

    @property
    def rate(self) -> float:
        return len(self.accepted) / self.seconds if self.seconds else 0.0

    @property
    def db_us_per_email(self) -> float:
        """PostgreSQL's own CPU (its processes', from ``/proc``) per accepted email, µs: what
        bounds how many workers one database serves (issue 19's target: ≤ 40 µs)."""
        sent = len(self.accepted)
        return self.cpu.get("postgres", 0.0) / sent * 1e6 if sent else 0.0

    @property
    def duplicates(self) -> int:
        return len(self.accepted) - len({a.message_id for a in self.accepted})

    def late(self, share: float) -> float:
        return percentile(self.lateness, share)


async def run_blast(lab: Lab, count: int) -> SendRun:
    """aiosmtplib alone into a fresh sink over ``SMTP_POOL_SIZE`` connections."""
    sink = SinkProcess.start(lab.folder, "blast")
    started = time.time()
    before = cpu_snapshot({**lab.pids, "sink": sink.proc.pid, "bench": os.getpid()})
    await blast(sink.port, lab.settings.smtp_pool_size, count)
    after = cpu_snapshot({**lab.pids, "sink": sink.proc.pid, "bench": os.getpid()})
    run = SendRun("raw aiosmtplib blast", 0, count, started, sink.stop())
    run.cpu = cpu_used(before, after)
    return run


async def run_sends(lab: Lab, n: int, workers: int) -> SendRun:
    """``n`` reminders due at one instant, sent by ``workers`` worker processes."""
    tag = f"e2e-{workers}w-{n}"
    sink = SinkProcess.start(lab.folder, tag)
    procs = []
    try:
        procs = start_workers(with_port(lab, sink.port), lab.folder / tag, workers)
        await workers_ready(lab, [p.pid for p in procs])
        due = utc_now() + timedelta(seconds=2 + n / 20_000)
        await appointments.add_due(lab.dsn, n, due, tag)
        groups = {**lab.pids, "sink": sink.proc.pid}
        groups.update({f"worker {i + 1}": p.pid for i, p in enumerate(procs)})
        run = await _drive(lab, n, due.timestamp(), groups, procs[0].pid)
    finally:
        stop_processes(procs)
        accepted = sink.stop()
    run.label, run.workers, run.accepted = tag, workers, accepted
    run.lateness = await _lateness(lab, accepted, run.started)
    await appointments.retire(lab.dsn, tag)
    return run


def with_port(lab: Lab, port: int) -> Settings:
    return lab.settings.model_copy(update={"smtp_port": port})


async def _drive(
    lab: Lab, n: int, due: float, groups: dict[str, int], first_worker: int
) -> SendRun:
    """At the due instant, enqueues the tick; polls the tick's job_runs row until done."""
    await asyncio.sleep(max(0.0, due - time.time()))
    at = utc_now()
    run = SendRun("", 0, n, at.timestamp(), [])
    pool = await lab.arq()
    conn = await asyncpg.connect(lab.dsn)
    counting = await statements.reset(conn)
    before = cpu_snapshot(groups)
    try:
        await pool.enqueue_job(JOB, _job_id=cron_job_id(JOB, at))
        await _poll(conn, cron_job_id(JOB, at), n, run, first_worker)
    finally:
        run.cpu = cpu_used(before, cpu_snapshot(groups))
        run.statements = await statements.read(conn) if counting else []
        await conn.close()
        await pool.aclose()
    return run


async def _poll(conn: asyncpg.Connection, run_id: str, n: int, run: SendRun, worker: int) -> None:
    deadline = time.monotonic() + 120 + n / 200
    while time.monotonic() < deadline:
        row = await conn.fetchrow("SELECT * FROM job_runs WHERE run_id = $1", run_id)
        run.rss.append((time.time() - run.started, rss_mib(worker)))
        if row is not None and row["status"] != "running" and row["selected"] >= n:
            run.job_run = {k: row[k] for k in ("selected", "sent", "skipped", "failed")}
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"benchmark: {n} reminders not done in time (tick {run_id})")


async def _lateness(lab: Lab, accepted: list[Accepted], since: float) -> list[float]:
    """Acceptance minus due instant, per accepted message (joined on ``Message-ID``)."""
    conn = await asyncpg.connect(lab.dsn)
    try:
        rows = await conn.fetch(
            "SELECT message_id, slot FROM reminders_sent WHERE kind = 'appointment_reminder'"
            " AND status = 'sent' AND slot >= to_timestamp($1) - interval '1 minute'",
            since,
        )
    finally:
        await conn.close()
    slots = {r["message_id"]: r["slot"].timestamp() for r in rows}
    return [a.at - slots[a.message_id] for a in accepted if a.message_id in slots]
