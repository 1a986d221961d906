"""Memory: one worker's resident size over thousands of ticks, every channel on (it must stay flat).

The benchmark enqueues the ticks itself, as arq's cron would, in rounds, rotating over every
job that selects users (``MEMORY_JOBS``: the registry's sending jobs and the recurring-task
processor); it reads the worker's RSS after each round. Every user takes every kind on all
three channels (``DEFAULT_CHANNELS``), with a webhook URL into a real receiver in its own
process (``bench.webhook_sink``, loopback, hence ``WEBHOOK_ALLOW_PRIVATE``), the weekly report
(as ``python -m bench`` loads it) and a draft session (what the notes reminder counts). Ticks
run at the real clock, so users whose local digest, report or notes time passes while the
phase runs are really due; before each round a few appointments, tasks and task
reminders fall due too (``FEED``), so every kind sends on every channel all through the phase,
not only the local-time ones. Most ticks find nothing.

``python -m bench.memory`` runs this phase alone on its own reduced data set (see ``--help``)
and writes its chart and a short report to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from tests.support.processes import start_notifier
from tests.support.servers import free_port

from bench.common import POSTGRES_SETTINGS, bench_settings
from bench.lab import Lab, cron_job_id, until, utc_now, workers_ready
from bench.procs import SinkProcess, rss_mib, stop_workers, worker_env
from bench.sending import with_port
from notifier.jobs.registry import batched_jobs

MEMORY_JOBS: tuple[str, ...] = tuple(batched_jobs())
ROUND = 100
WARM_UP_SHARE = 0.1
CHANNELS_ON = "email,in_app,webhook"


@dataclass(frozen=True)
class Feed:
    """What falls due before each round: appointments (their 60-minute reminder due now),
    tasks due within the task-due lead, tasks just past due (overdue notices), task reminders
    (one per channel in turn) and completed recurring tasks (a new instance each)."""

    appointments: int = 3
    due_tasks: int = 2
    overdue_tasks: int = 2
    task_reminders: int = 3
    recurring: int = 1


FEED = Feed()


@dataclass(frozen=True)
class MemoryRun:
    """RSS (MiB) after each round of ticks; emails the SMTP sink accepted; deliveries recorded
    ``sent`` per channel and per kind; requests the webhook receiver got; ticks per job."""

    samples: list[tuple[int, float]]
    sent: int
    channels: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    webhooks_received: int = 0
    ticks: dict[str, int] = field(default_factory=dict)

    def drift(self) -> tuple[float, float]:
        """Lowest and highest RSS after warm-up, relative to RSS at the end of warm-up."""
        ticks = self.samples[-1][0]
        after = [mib for tick, mib in self.samples if tick >= ticks * WARM_UP_SHARE]
        reference = after[0]
        return min(after) / reference - 1, max(after) / reference - 1


@dataclass
class WebhookSink:
    """``python -m bench.webhook_sink`` on a free loopback port; ``stop`` returns its count."""

    port: int
    proc: subprocess.Popen[str]

    @classmethod
    def start(cls) -> WebhookSink:
        port = free_port()
        argv = [sys.executable, "-m", "bench.webhook_sink", str(port)]
        proc = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
            argv, cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return cls(port, proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stop(self) -> int:
        self.proc.terminate()
        out = self.proc.communicate(timeout=30)[0].strip()
        return int(out) if out.isdigit() else 0


def channel_env() -> dict[str, str]:
    """What the webhook channel needs to POST to a loopback receiver, and every channel on."""
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    return {
        "DEFAULT_CHANNELS": CHANNELS_ON,
        "WEBHOOK_SECRET": secret,
        "WEBHOOK_ALLOW_PRIVATE": "true",
    }


async def run_memory(lab: Lab, ticks: int) -> MemoryRun:
    """Every user on every channel, one worker, ``ticks`` ticks in rounds of ``ROUND``."""
    webhooks = WebhookSink.start()
    sink: SinkProcess | None = None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await all_channels_on(lab.dsn, webhooks.url)
        started = utc_now()
        sink = SinkProcess.start(lab.folder, "memory")
        procs = [_worker(lab, sink.port)]
        await workers_ready(lab, [procs[0].pid])
        samples, counts = await _rounds(lab, ticks, procs[0].pid)
    finally:
        stop_workers(procs)
        accepted = sink.stop() if sink else []
        received = webhooks.stop()
    channels, kinds = await delivered(lab.dsn, started)
    return MemoryRun(samples, len(accepted), channels, kinds, received, dict(counts))


def _worker(lab: Lab, smtp_port: int) -> subprocess.Popen[bytes]:
    """One ``notifier worker`` with no cron of its own and every channel on."""
    folder = lab.folder / "memory"
    folder.mkdir(parents=True, exist_ok=True)
    env = worker_env(with_port(lab, smtp_port), **channel_env())
    return start_notifier(["worker"], env, folder / "worker-0.log")


# Only the webhook URL: a change of a schedule column would reset every user's next-send
# instant (migration 0010), and the worker's first ticks would then read every user.
_CHANNELS_ON = "UPDATE notification_settings SET webhook_url = $1"

# One draft session per user: the notes reminder has something to count (without one a user's
# reminder is recorded skipped, and nothing is sent).
_DRAFTS = """
INSERT INTO sessions (id, workspace_id, user_id, is_draft, updated_at)
SELECT gen_random_uuid(), workspace_id, id, true, now() FROM users
"""


async def all_channels_on(dsn: str, webhook_url: str) -> None:
    """Every user gets a webhook URL and a draft session; channels come from
    ``DEFAULT_CHANNELS``, the weekly report from loading (``population.load(weekly=...)``)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_CHANNELS_ON, webhook_url)
        await conn.execute(_DRAFTS)
        await conn.execute("ANALYZE notification_settings; ANALYZE local_time_schedules")
    finally:
        await conn.close()


async def _rounds(lab: Lab, ticks: int, pid: int) -> tuple[list[tuple[int, float]], Counter[str]]:
    pool = await lab.arq()
    conn = await asyncpg.connect(lab.dsn)
    base = utc_now()
    samples = [(0, rss_mib(pid))]
    counts: Counter[str] = Counter()
    try:

        async def drained() -> bool:
            return int(await pool.zcard("arq:queue")) == 0

        for start in range(0, ticks, ROUND):
            await feed(conn, FEED, start // ROUND)
            for i in range(start, min(start + ROUND, ticks)):
                job = MEMORY_JOBS[i % len(MEMORY_JOBS)]
                at = base + timedelta(milliseconds=i)
                await pool.enqueue_job(job, _job_id=cron_job_id(job, at))
                counts[job] += 1
            await until(drained, 600, "a round of ticks", every=0.05)
            samples.append((min(start + ROUND, ticks), rss_mib(pid)))
    finally:
        await conn.close()
        await pool.aclose()
    return samples, counts


# Random users of the benchmark's numbered table (``bench.appointments``).
_PICK = "(SELECT g, 1 + floor(random() * (SELECT max(rn) FROM bench_users))::int AS rn"
_PICKED = f"{_PICK} FROM generate_series(1, $1::int) g) p JOIN bench_users u USING (rn)"

_APPOINTMENTS = f"""
INSERT INTO appointments (id, workspace_id, user_id, starts_at, ends_at, location,
                          service_name, status)
SELECT gen_random_uuid(), u.workspace_id, u.id, now() + interval '60 minutes',
       now() + interval '110 minutes', 'memory', 'Consultation', 'scheduled'
FROM {_PICKED}
"""

_TASKS = f"""
INSERT INTO tasks (id, workspace_id, user_id, title, due_date, completed, completed_at,
                   is_recurring, recurrence_type)
SELECT gen_random_uuid(), u.workspace_id, u.id, 'Memory task', now() + $2::interval,
       $3::bool, CASE WHEN $3::bool THEN now() END, $3::bool, CASE WHEN $3::bool THEN 'daily' END
FROM {_PICKED}
RETURNING id, user_id
"""

_REMINDER = """
INSERT INTO task_reminders (id, task_id, user_id, remind_at, channel)
VALUES (gen_random_uuid(), $1, $2, now() - interval '1 second', $3)
"""


async def feed(conn: asyncpg.Connection, what: Feed, round_no: int) -> None:
    """Rows that fall due now, for this round's ticks to find (see ``Feed``)."""
    await conn.execute(_APPOINTMENTS, what.appointments)
    await conn.execute(_TASKS, what.due_tasks, timedelta(hours=12), False)
    await conn.execute(_TASKS, what.overdue_tasks, timedelta(seconds=-1), False)
    await conn.execute(_TASKS, what.recurring, timedelta(hours=-1), True)
    targets = await conn.fetch(_TASKS, what.task_reminders, timedelta(days=2), False)
    channels = CHANNELS_ON.split(",")
    for i, row in enumerate(targets):
        channel = channels[(round_no * len(targets) + i) % len(channels)]
        await conn.execute(_REMINDER, row["id"], row["user_id"], channel)


async def delivered(dsn: str, since: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Slots recorded ``sent`` since ``since``, per channel and per kind."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT kind, channel, count(*) AS n FROM reminders_sent"
            " WHERE status = 'sent' AND created_at >= $1 GROUP BY kind, channel",
            since,
        )
    finally:
        await conn.close()
    channels: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for row in rows:
        channels[row["channel"]] += row["n"]
        kinds[row["kind"]] += row["n"]
    return dict(channels), dict(kinds)


def summary(run: MemoryRun) -> list[str]:
    """The phase in a few lines, for the report and for ``python -m bench.memory``."""
    low, high = run.drift()
    first, last = run.samples[0][1], run.samples[-1][1]
    rotation = ", ".join(f"`{job}` {n:,}" for job, n in run.ticks.items())
    return [
        f"{run.samples[-1][0]:,} ticks at the real clock, every channel on ({rotation}).",
        f"Deliveries recorded sent, per channel: {_counts(run.channels)}; per kind: "
        f"{_counts(run.kinds)}. The SMTP sink accepted {run.sent:,} emails, the webhook "
        f"receiver {run.webhooks_received:,} requests.",
        f"RSS at start {first:.1f} MiB, at the end {last:.1f} MiB; after warm-up (the first "
        f"{WARM_UP_SHARE:.0%} of ticks) it stayed within {low:+.1%} / {high:+.1%}.",
    ]


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items())) or "none"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    add = parser.add_argument
    add("--users", type=int, default=100_000)
    add("--zones", type=int, default=400)
    add("--appointments", type=int, default=100_000)
    add("--ticks", type=int, default=10_000)
    add("--seed", type=int, default=3)
    add(
        "--statement-cache",
        type=int,
        default=None,
        help="the worker's prepared statements kept per connection (SQLAlchemy's "
        "prepared_statement_cache_size, default 100); 0 shows what that cache holds",
    )
    add("--out", type=Path, required=True, help="folder for memory.md and memory.png")
    return parser.parse_args(argv)


async def standalone(args: argparse.Namespace, pg: Any, redis: Any, folder: Path) -> MemoryRun:
    """The full benchmark's data at a reduced size, then this phase alone."""
    import random

    from bench import appointments
    from bench.common import create_database, vacuum_analyze
    from bench.population import load, populate
    from bench.selection import compute_instants
    from notifier.db.migrate import upgrade_to_head
    from notifier.timemath.windows import catch_up_window

    url = await create_database(pg.url, f"bench_memory_{os.getpid()}")
    await asyncio.to_thread(upgrade_to_head, url)
    full = argparse.Namespace(connections=16, batch_size=500)
    lab = Lab(url, redis.url, folder, bench_settings(full, _worker_url(url, args), redis.url))
    at, rnd = utc_now().replace(second=0, microsecond=0), random.Random(args.seed)
    pop = populate(args.users, args.zones, catch_up_window(at, timedelta(minutes=60)), rnd)
    await load(lab.dsn, pop, rnd, at, random.Random(args.seed + 1))
    await appointments.build_background(lab.dsn, args.appointments, at)
    await vacuum_analyze(lab.dsn)
    await compute_instants(lab, at)  # as ``python -m bench`` does before its phases
    return await run_memory(lab, args.ticks)


def _worker_url(url: str, args: argparse.Namespace) -> str:
    """The worker's database URL, with ``--statement-cache`` if given (the benchmark's own
    connections take the plain URL: asyncpg would read the option as a server setting)."""
    if args.statement_cache is None:
        return url
    return f"{url}?prepared_statement_cache_size={args.statement_cache}"


def main() -> None:
    import shutil
    import tempfile

    from tests.support.servers import local_servers

    from bench import charts
    from notifier.logs import configure_logging

    args = parse()
    configure_logging("WARNING")
    folder = Path(tempfile.mkdtemp(prefix="notifier-bench-memory-"))
    with local_servers(POSTGRES_SETTINGS) as (pg, redis):
        run = asyncio.run(standalone(args, pg, redis, folder))
    args.out.mkdir(parents=True, exist_ok=True)
    charts.memory(run, args.out / "memory.png")
    lines = [*summary(run), "", "RSS samples (ticks, MiB):", *map(str, run.samples)]
    (args.out / "memory.md").write_text("\n\n".join(lines[:3]) + "\n" + "\n".join(lines[3:]))
    print("\n".join(summary(run)))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
