"""Helpers every benchmark script shares: a scratch database, timing, percentiles.

Benchmarks run against throwaway servers (``tests.support.servers``), never a configured one.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from notifier.config import Settings


def plain_dsn(url: str) -> str:
    """An SQLAlchemy URL as asyncpg takes it."""
    return url.replace("+asyncpg", "")


async def create_database(server_url: str, name: str) -> str:
    """Creates database ``name`` on the server of ``server_url``; returns its URL."""
    conn = await asyncpg.connect(plain_dsn(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def vacuum_analyze(dsn: str) -> None:
    """What autovacuum does to freshly loaded tables on a live database, done before measuring,
    so no phase runs alongside its first pass over a million new rows (and index-only scans
    find the visibility map set)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def timed(action: Callable[[], Awaitable[Any]], runs: int) -> tuple[list[float], Any]:
    """Milliseconds of each run, and the last run's result."""
    spent, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = await action()
        spent.append((time.perf_counter() - start) * 1000)
    return spent, result


def summary(label: str, spent: Sequence[float]) -> str:
    ordered = sorted(spent)
    return (
        f"{label}: median {statistics.median(ordered):.1f} ms, "
        f"min {ordered[0]:.1f} ms, max {ordered[-1]:.1f} ms ({len(ordered)} runs)"
    )


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


# A database serving a million users keeps its working set in memory; PostgreSQL's default
# 128 MB of buffers would make the benchmark measure page-cache copies (the data is ~1.1 GB).
POSTGRES_SETTINGS = {"shared_buffers": "1GB"}


def bench_settings(args: argparse.Namespace, url: str, redis_url: str) -> Settings:
    return Settings(
        database_url=url,
        redis_url=redis_url,
        smtp_host="127.0.0.1",
        mail_from="notifier@bench.test",
        smtp_pool_size=args.connections,
        batch_size=args.batch_size,
        log_level="WARNING",
    )
