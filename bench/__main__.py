"""``python -m bench``: the whole benchmark in one go, on throwaway servers; writes the report.

Builds its own data (a million users over ~400 zones, a million appointments) in a fresh
PostgreSQL and Redis from ``tests.support.servers``, then measures, in this order: selection
ticks, the raw SMTP blast, end-to-end sends with one and two worker processes, an in-process
profile, and a worker's RSS over many ticks. Writes ``report.md`` and PNG charts to ``--out``
(default ``bench/results``). Takes about 15 minutes on 2 cores; run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from tests.support.servers import Server, local_servers

from bench import appointments, charts
from bench.common import POSTGRES_SETTINGS, bench_settings, create_database, vacuum_analyze
from bench.lab import Lab, utc_now
from bench.memory import run_memory
from bench.population import load, populate
from bench.profiling import run_profile
from bench.report import Results, analysis, render
from bench.selection import compute_instants, run_selection
from bench.sending import run_blast, run_sends
from notifier.db.migrate import upgrade_to_head
from notifier.logs import configure_logging
from notifier.timemath.windows import catch_up_window

RESULTS = Path(__file__).parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add = parser.add_argument
    add("--users", type=int, default=1_000_000)
    add("--zones", type=int, default=400)
    add("--appointments", type=int, default=1_000_000)
    add("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[10_000, 100_000])
    add("--due", type=int, default=1_000, help="due users/appointments in the selection ticks")
    add("--ticks", type=int, default=10_000, help="ticks of the memory phase")
    add("--connections", type=int, default=16, help="SMTP_POOL_SIZE, also the blast's")
    add("--batch-size", type=int, default=500)
    add("--blast", type=int, default=20_000, help="messages of the raw blast")
    add("--profile", type=int, default=5_000, help="reminders of the in-process profile")
    add("--seed", type=int, default=3)
    add("--note", default="nothing else", help="what else ran on the machine meanwhile")
    add("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def facts(args: argparse.Namespace) -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "date": utc_now().strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}",
        "data": f"{args.users:,} users in {args.zones} zones, {args.appointments:,} appointments",
        "settings": f"SMTP_POOL_SIZE={args.connections}, BATCH_SIZE={args.batch_size}, "
        "worker defaults otherwise; PostgreSQL shared_buffers="
        f"{POSTGRES_SETTINGS['shared_buffers']}, fsync off (a throwaway server), "
        "VACUUM (ANALYZE) after loading",
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "also running": args.note,
    }


async def measure(
    args: argparse.Namespace, pg: Server, redis: Server, folder: Path, redis_db: int = 0
) -> Results:
    """Every phase, in order, in a new database on ``pg`` and database ``redis_db`` of ``redis``
    (the smoke test shares the test suite's servers)."""
    info = facts(args)
    url = await create_database(pg.url, f"bench_{os.getpid()}_{utc_now():%H%M%S}")
    await asyncio.to_thread(upgrade_to_head, url)
    redis_url = f"{redis.url.rsplit('/', 1)[0]}/{redis_db}"
    lab = Lab(url, redis_url, folder, bench_settings(args, url, redis_url))
    lab.pids.update(postgres=_pid(pg), redis=_pid(redis))
    at = utc_now().replace(second=0, microsecond=0)
    rnd = random.Random(args.seed)
    pop = populate(args.users, args.zones, catch_up_window(at, timedelta(minutes=60)), rnd)
    await load(lab.dsn, pop, rnd, at, random.Random(args.seed + 1))
    await appointments.build_background(lab.dsn, args.appointments, at)
    await vacuum_analyze(lab.dsn)
    first_ticks = await compute_instants(lab, at)
    selection = await run_selection(lab, pop, at, args.due, rnd)
    blast = await run_blast(lab, args.blast)
    sends = [await run_sends(lab, n, workers) for workers in (1, 2) for n in args.sizes]
    profile = await run_profile(lab, args.profile)
    memory = await run_memory(lab, args.ticks)
    return Results(info, blast, sends, selection, profile, memory, first_ticks)


def _pid(server: Server) -> int:
    assert server.proc is not None
    return server.proc.pid


def write(results: Results, out: Path) -> Path:
    """``report.md`` and the PNGs in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    charts.throughput([results.blast, *results.sends], out / "throughput.png")
    charts.lateness(results.sends, out / "lateness.png")
    charts.memory(results.memory, out / "memory.png")
    report = out / "report.md"
    report.write_text(render(results, analysis(results)), encoding="utf-8")
    return report


def main() -> None:
    args = parse()
    configure_logging("WARNING")
    folder = Path(tempfile.mkdtemp(prefix="notifier-bench-"))
    with local_servers(POSTGRES_SETTINGS) as (pg, redis):
        results = asyncio.run(measure(args, pg, redis, folder))  # logs stay in folder if not
    print(f"report written: {write(results, args.out)}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
