"""The ``job_runs`` ledger's statements: a tick's row opened, closed, added to, failed.

Beside ``delivery.ledger`` (the ``reminders_sent`` ledger): SQL only, no tick logic. The
runner that decides when to write (``jobs.runs``) hands in an engine, the values, and counts
as ``{"selected": …, "sent": …, "skipped": …, "failed": …}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    Executable,
    Insert,
    Integer,
    Text,
    Update,
    bindparam,
    case,
    func,
    insert,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.db.engine import autocommit
from notifier.db.inline_constants import inline
from notifier.db.schema import job_runs

COUNTED = ("selected", "sent", "skipped", "failed")


async def write(engine: AsyncEngine, statements: Sequence[Executable], values: Any) -> None:
    """One autocommit statement on PostgreSQL; SQLite, lacking UPDATE inside WITH, runs the
    closing of abandoned rows and the insert as two (``statements[1:]``)."""
    async with autocommit(engine) as conn:
        if conn.dialect.name == "postgresql" or len(statements) == 1:
            await conn.execute(statements[0], values)
        else:
            for stmt in statements[1:]:
                await conn.execute(stmt, values)


# The statements of every tick are built once, with parameters: building and hashing a new
# statement per tick cost ~0.5 ms of the ~5 ms a tick with nothing due may take. Parameter
# names start with ``p_``: a name equal to a column's would join an UPDATE's SET list.
@cache
def _close_abandoned() -> Update:
    """Rows of this job left ``running`` by a process that died (older than any live tick)."""
    c = job_runs.c
    return (
        update(job_runs)
        .where(
            c.job_name == bindparam("p_job"),
            c.status == inline("running"),  # the partial index ix_job_runs_running
            c.started_at < bindparam("p_abandoned_before"),
        )
        .values(
            status="failed",
            finished_at=bindparam("p_started"),
            error="abandoned: the process running it died",
        )
    )


def _row(**finished: object) -> Insert:
    return insert(job_runs).values(
        id=bindparam("p_row_id"),
        job_name=bindparam("p_job"),
        run_id=bindparam("p_run_id"),
        scheduled_for=bindparam("p_scheduled_for"),
        started_at=bindparam("p_started"),
        **finished,
    )


@cache
def open_statements() -> tuple[Executable, Update, Insert]:
    """(PostgreSQL's one statement, then SQLite's two): close abandoned rows, insert ours."""
    return _closing_abandoned(_row(status="running"))


@cache
def whole_statements() -> tuple[Executable, Update, Insert]:
    """As ``_open_statements``, the row inserted already finished, with its counts."""
    counts = {name: bindparam(f"p_{name}", type_=Integer) for name in COUNTED}
    row = _row(
        status=bindparam("p_status", type_=Text),
        finished_at=bindparam("p_wall"),
        error=bindparam("p_error", type_=Text),
        **counts,
    )
    return _closing_abandoned(row)


def _closing_abandoned(row: Insert) -> tuple[Executable, Update, Insert]:
    """(PostgreSQL's one statement, then SQLite's two): close abandoned rows, insert ``row``."""
    return row.add_cte(_close_abandoned().cte("abandoned")), _close_abandoned(), row


def finish_values(wall: object, counts: Mapping[str, int], error: str | None) -> dict[str, object]:
    """The values that close a row: when, how, and the counts to add."""
    return {
        "p_wall": wall,
        "p_error": error,
        "p_status": "failed" if error else "succeeded",
        **_counts(counts),
    }


@cache
def finish_statement() -> Update:
    c = job_runs.c
    return (
        update(job_runs)
        .where(c.id == bindparam("p_row_id"))
        .values(
            finished_at=bindparam("p_wall"),
            # A batch of this tick may have failed already (fan-out): never undo that.
            status=case((c.status == "failed", "failed"), else_=bindparam("p_status", type_=Text)),
            error=func.coalesce(c.error, bindparam("p_error", type_=Text)),
            **_increments(),
        )
    )


def _counts(counts: Mapping[str, int]) -> dict[str, int]:
    return {f"p_{name}": counts[name] for name in COUNTED}


def _increments() -> dict[str, object]:
    """Counts added to the row, never set: batches on other workers add theirs too."""
    c = job_runs.c
    return {name: getattr(c, name) + bindparam(f"p_{name}", type_=Integer) for name in COUNTED}


async def add_counts(engine: AsyncEngine, row_id: uuid.UUID, counts: Mapping[str, int]) -> None:
    """A finished batch adds its counts to its tick's row (one atomic UPDATE)."""
    async with autocommit(engine) as conn:
        stmt = (
            update(job_runs).where(job_runs.c.id == bindparam("p_row_id")).values(**_increments())
        )
        await conn.execute(stmt, {"p_row_id": row_id, **_counts(counts)})


async def fail_run(engine: AsyncEngine, row_id: uuid.UUID, error: str) -> None:
    """A batch that raised marks its tick ``failed`` (the first error is kept)."""
    async with autocommit(engine) as conn:
        await conn.execute(
            update(job_runs)
            .where(job_runs.c.id == row_id)
            .values(status="failed", error=func.coalesce(job_runs.c.error, error))
        )
