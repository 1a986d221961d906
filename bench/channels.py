"""``python -m bench.channels``: in-app and webhook deliveries per second from one worker.

On throwaway servers (``tests.support.servers``): ``--n`` appointment reminders fall due at
one instant for users who take them in-app only (then, in a second run, by webhook only, into
a keep-alive receiver in its own process). One tick runs them in this process, as one worker's
batches would (claims, rendering, in-app rows with their ``sent`` marks, or signed POSTs); the
figure is deliveries over the tick's wall time. Prints one line per channel and appends
nothing: ``bench/results/report.md`` quotes the figures by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import SecretStr
from tests.support.servers import Server, free_port, local_servers

from bench.common import create_database
from bench.procs import cpu_snapshot, cpu_used
from notifier.app import close_services, open_services
from notifier.config import Settings
from notifier.db.migrate import upgrade_to_head
from notifier.services.appointment_reminders import run_tick

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


async def _seed(dsn: str, n: int, channel: str, url: str | None) -> None:
    """``n // 10`` users with ``channel`` on and email off, ten appointments each, due at AT."""
    conn = await asyncpg.connect(dsn)
    try:
        users = [uuid.uuid4() for _ in range(max(1, n // 10))]
        ws = uuid.uuid4()
        await conn.execute("INSERT INTO workspaces (id, name) VALUES ($1, 'bench')", ws)
        await conn.executemany(
            "INSERT INTO users (id, workspace_id, email) VALUES ($1, $2, $3)",
            [(u, ws, f"u{i}@bench.test") for i, u in enumerate(users)],
        )
        await conn.executemany(
            "INSERT INTO notification_settings (user_id, webhook_url) VALUES ($1, $2)",
            [(u, url) for u in users],
        )
        await conn.executemany(
            "INSERT INTO notification_preferences (user_id, kind, channel, enabled)"
            " VALUES ($1, 'appointment_reminder', $2, $3)",
            [(u, c, on) for u in users for c, on in ((channel, True), ("email", False))],
        )
        starts = AT + timedelta(minutes=60)
        await conn.executemany(
            "INSERT INTO appointments (id, workspace_id, user_id, starts_at, ends_at, status)"
            " VALUES ($1, $2, $3, $4, $4, 'scheduled')",
            [
                (uuid.uuid4(), ws, users[i % len(users)], starts - timedelta(microseconds=i))
                for i in range(n)
            ],
        )
    finally:
        await conn.close()


async def _measure(settings: Settings, postgres: int) -> tuple[int, float, float]:
    """Deliveries, wall seconds and PostgreSQL's CPU seconds (its processes') of one tick."""
    services = open_services(settings, lambda: datetime.now(UTC))
    try:
        before = cpu_snapshot({"postgres": postgres})
        started = time.perf_counter()
        counts = await run_tick(services, AT)
        seconds = time.perf_counter() - started
        used = cpu_used(before, cpu_snapshot({"postgres": postgres}))["postgres"]
        return counts.sent, seconds, used
    finally:
        await close_services(services)


async def _run(pg: Server, redis_url: str, n: int, channel: str, url: str | None) -> str:
    assert pg.proc is not None
    database = await create_database(pg.url, f"bench_{channel}")
    await asyncio.to_thread(upgrade_to_head, database)
    await _seed(database.replace("+asyncpg", ""), n, channel, url)
    settings = Settings(
        database_url=database,
        redis_url=redis_url,
        batch_size=min(n, 10_000),  # the setting's own limit
        webhook_secret=SecretStr("whsec_" + base64.b64encode(os.urandom(24)).decode()),
        webhook_allow_private=True,
    )
    sent, seconds, db_cpu = await _measure(settings, pg.proc.pid)
    per = db_cpu / sent * 1e6 if sent else 0.0
    return (
        f"{channel}: {sent} deliveries in {seconds:.2f} s = {sent / seconds:,.0f}/s"
        f" (PostgreSQL CPU {per:.0f} µs a delivery)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.channels", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args(argv)
    port = free_port()
    sink = subprocess.Popen(  # noqa: S603  (our own module, fixed arguments)
        [sys.executable, "-m", "bench.webhook_sink", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    lines: list[Any] = []
    try:
        with local_servers() as (pg, redis):
            lines.append(asyncio.run(_run(pg, redis.url, args.n, "in_app", None)))
            url = f"http://127.0.0.1:{port}/hook"
            lines.append(asyncio.run(_run(pg, redis.url, args.n, "webhook", url)))
    finally:
        sink.terminate()  # also when a run fails: the receiver must not outlive the benchmark
        received = sink.communicate(timeout=30)[0].strip()
    for line in lines:
        print(line)
    print(f"webhook receiver counted {received} requests")


if __name__ == "__main__":
    main()
