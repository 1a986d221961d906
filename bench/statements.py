"""Where PostgreSQL's time in a sending phase goes, statement by statement.

The report's PostgreSQL CPU per email is one number; this splits the server's time by
statement (``pg_stat_statements``), so a reader sees which of the worker's statements cost
what: the claim, the fresh read of a batch, the ``sent`` mark. Its times are the server's
wall time in each statement (on a busy two-core host, more than its CPU); the shares hold.
``tests.support.servers`` loads the extension where the machine has it; without it a phase
simply has no breakdown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg
from tests.support.servers import STATEMENT_STATS

# The benchmark's own polling, not the worker's work.
_OWN = ("SELECT * FROM job_runs WHERE run_id", "SELECT pg_stat_statements_reset")


@dataclass(frozen=True)
class Statement:
    """One normalised statement's share of a phase."""

    text: str
    calls: int
    rows: int
    ms: float


async def reset(conn: asyncpg.Connection) -> bool:
    """Starts counting afresh; False where the extension is not loaded."""
    try:
        await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {STATEMENT_STATS}")
        await conn.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.PostgresError:
        return False
    return True


async def read(conn: asyncpg.Connection, limit: int = 8) -> list[Statement]:
    """The statements that took most of the server's time since ``reset``."""
    rows = await conn.fetch(
        "SELECT query, calls, rows, total_exec_time FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " ORDER BY total_exec_time DESC LIMIT $1",
        limit + len(_OWN),
    )
    found = [
        Statement(_short(r["query"]), r["calls"], r["rows"], r["total_exec_time"]) for r in rows
    ]
    return [s for s in found if not s.text.startswith(_OWN)][:limit]


def _short(query: str, width: int = 90) -> str:
    """The statement on one line, cut to ``width``."""
    flat = re.sub(r"\s+", " ", query).strip()
    return flat if len(flat) <= width else flat[: width - 1] + "…"
