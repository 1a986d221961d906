"""``python -m bench.priorities``: appointment reminders due while a digest backlog is sent.

On throwaway servers: ``--digests`` users whose daily digest falls due at one whole minute
``T0`` (one UTC workspace), and ``--reminders`` appointment reminders due at ``--ticks``
instants spread over the first ``--spread`` seconds after ``T0``. Real ``notifier worker``
processes (no crons of their own) run the ticks the benchmark enqueues as arq's cron would:
the digest tick at ``T0``, each reminder tick at its reminders' due instant (in production
reminders fall due on whole minutes, at a tick; here the ticks come closer together so that
every one lands inside the backlog). Lateness is the sink's acceptance minus the slot.

Runs the code installed next to this Python, so the same script measures a checkout before
and after a change (``--label``). Prints a JSON summary and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from arq import create_pool
from tests.support.servers import local_servers

from bench.common import create_database, percentile, plain_dsn, vacuum_analyze
from bench.lab import cron_job_id, until
from bench.procs import Accepted, SinkProcess, start_workers, stop_workers
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from notifier.worker import redis_settings

POSTGRES_SETTINGS = {"shared_buffers": "512MB"}

_USERS = """
INSERT INTO users (id, workspace_id, email, full_name)
SELECT gen_random_uuid(), $1, $3 || g || '@bench.test', 'Bench User ' || g
FROM generate_series(1, $2::int) g
"""
_DIGESTS = """
INSERT INTO notification_settings (user_id, digest_enabled, digest_time)
SELECT id, true, $2::time FROM users WHERE email LIKE $1
"""
_REMINDERS = """
INSERT INTO appointments (id, workspace_id, user_id, starts_at, ends_at, status)
SELECT gen_random_uuid(), u.workspace_id, u.id, $1::timestamptz + interval '60 minutes',
       $1::timestamptz + interval '110 minutes', 'scheduled'
FROM generate_series(1, $2::int) g
JOIN (SELECT id, workspace_id, row_number() OVER () AS rn FROM users WHERE email LIKE 'r%') u
  ON u.rn = 1 + g % 100
"""


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.priorities", description=__doc__)
    add = parser.add_argument
    add("--digests", type=int, default=100_000)
    add("--reminders", type=int, default=1_000)
    add("--ticks", type=int, default=5, help="reminder ticks during the backlog")
    add("--spread", type=float, default=30.0, help="seconds after T0 they spread over")
    add("--workers", type=int, default=1)
    add("--batch-size", type=int, default=500)
    add("--connections", type=int, default=16)
    add("--label", default="run")
    add("--out", type=Path, default=Path("bench/results"))
    return parser.parse_args(argv)


async def seed(dsn: str, args: argparse.Namespace, t0: datetime, due: list[datetime]) -> None:
    """The digest users (digest at T0's UTC wall time), 100 practitioners, their reminders."""
    conn = await asyncpg.connect(dsn)
    try:
        ws = uuid.uuid4()
        await conn.execute("INSERT INTO workspaces (id, name) VALUES ($1, 'bench')", ws)
        await conn.execute(_USERS, ws, args.digests, "d")
        await conn.execute(_USERS, ws, 100, "r")
        await conn.execute(_DIGESTS, "d%", t0.time())
        share = args.reminders // len(due)
        for at in due:
            await conn.execute(_REMINDERS, at, share)
    finally:
        await conn.close()


def instants(args: argparse.Namespace) -> tuple[datetime, list[datetime]]:
    """T0, the next whole minute at least 20 s away, and the reminder ticks after it."""
    now = datetime.now(UTC)
    t0 = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)
    step = args.spread / args.ticks
    return t0, [t0 + timedelta(seconds=round(step * (k + 1))) for k in range(args.ticks)]


async def drive(redis_url: str, t0: datetime, due: list[datetime]) -> None:
    """Enqueues each tick at its instant, as arq's cron would."""
    pool = await create_pool(redis_settings(redis_url))
    try:
        for job, at in [("daily_digest", t0), *(("appointment_reminders", d) for d in due)]:
            await asyncio.sleep(max(0.0, at.timestamp() - time.time()))
            await pool.enqueue_job(job, _job_id=cron_job_id(job, at))
    finally:
        await pool.aclose()


async def sent_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM reminders_sent WHERE status='sent'"))
    finally:
        await conn.close()


async def slots(dsn: str) -> dict[str, tuple[str, float]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT message_id, kind, slot FROM reminders_sent")
    finally:
        await conn.close()
    return {r["message_id"]: (r["kind"], r["slot"].timestamp()) for r in rows}


def summary(
    accepted: list[Accepted], by_id: dict[str, tuple[str, float]], t0: datetime
) -> dict[str, object]:
    """Reminders' lateness (acceptance minus slot) and when the digest backlog was done."""
    late = [a.at - by_id[a.message_id][1] for a in accepted if _kind(by_id, a) == "reminder"]
    digests = [a.at for a in accepted if _kind(by_id, a) == "digest"]
    ids = [a.message_id for a in accepted]
    return {
        "reminders": len(late),
        "reminder_late_p50": percentile(late, 0.5),
        "reminder_late_p99": percentile(late, 0.99),
        "reminder_late_max": max(late),
        "digests": len(digests),
        "digests_done_after_s": max(digests) - t0.timestamp(),
        "duplicates": len(ids) - len(set(ids)),
    }


def _kind(by_id: dict[str, tuple[str, float]], accepted: Accepted) -> str:
    kind = by_id.get(accepted.message_id, ("?", 0.0))[0]
    return {"appointment_reminder": "reminder", "daily_digest": "digest"}.get(kind, "?")


async def run(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="bench-priorities-"))
    with local_servers(POSTGRES_SETTINGS) as (pg, redis):
        url = await create_database(pg.url, f"prio_{os.getpid()}")
        await asyncio.to_thread(upgrade_to_head, url)
        dsn = plain_dsn(url)
        t0, due = instants(args)
        await seed(dsn, args, t0, due)
        await vacuum_analyze(dsn)
        settings = Settings(
            database_url=url,
            redis_url=redis.url,
            smtp_host="127.0.0.1",
            mail_from="notifier@bench.test",
            smtp_pool_size=args.connections,
            batch_size=args.batch_size,
        )
        sink = SinkProcess.start(folder, args.label)
        port = settings.model_copy(update={"smtp_port": sink.port})
        procs = start_workers(port, folder / "workers", args.workers)
        try:
            await drive(redis.url, t0, due)
            total: int = args.digests + args.reminders // len(due) * len(due)

            async def done() -> bool:
                return await sent_count(dsn) >= total

            await until(done, 3600, "every digest and reminder sent", every=1.0)
        finally:
            stop_workers(procs)
            accepted = sink.stop()
        result = summary(accepted, await slots(dsn), t0)
    return {"label": args.label, "workers": args.workers, **result}


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    result = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"priorities-{args.label}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
