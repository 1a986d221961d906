"""Probes that must walk their index in order rather than through a bitmap (PostgreSQL).

A row that leaves a probe's partial index, or moves along it (a next-send instant moved on, a
task marked overdue or processed, a reminder sent), leaves a dead entry behind, inside the
range every later probe reads until VACUUM gets to the table. An index scan that walks past
such an entry marks it dead in the index, and later scans skip it (~0.3 µs a page of them). A
bitmap scan, which the planner takes when it expects few rows, never marks one and reads its
heap row again on every probe. Measured on the copy at a million users: 10,000 rows moved
since the last VACUUM made an idle digest read 3.4 ms, 50,000 made it 58 ms; walked in order,
1.5 ms (``bench/results/report.md``, session 10).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.db.engine import autocommitting

NO_BITMAP = "SET LOCAL enable_bitmapscan = off"


@asynccontextmanager
async def in_index_order(conn: AsyncConnection) -> AsyncIterator[None]:
    """No bitmap scans for the statements inside, on PostgreSQL.

    ``SET LOCAL`` ends with its transaction: the caller's, or on an autocommit connection one
    opened around the block (three more round trips, ~0.1 ms), so nothing else that later
    uses the pooled connection plans without bitmaps.
    """
    if conn.dialect.name != "postgresql":
        yield
    elif not autocommitting(conn):
        await conn.exec_driver_sql(NO_BITMAP)
        yield
    else:
        async with _own_transaction(conn):
            await conn.exec_driver_sql(NO_BITMAP)
            yield


@asynccontextmanager
async def _own_transaction(conn: AsyncConnection) -> AsyncIterator[None]:
    """A transaction on an autocommit connection, by hand: SQLAlchemy opens none there."""
    await conn.exec_driver_sql("BEGIN")
    try:
        yield
    except BaseException:
        await conn.exec_driver_sql("ROLLBACK")
        raise
    await conn.exec_driver_sql("COMMIT")
