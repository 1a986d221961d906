"""The ticks' probes walk their indexes in order, never through a bitmap (PostgreSQL).

A row that leaves a probe's partial index, or moves along it (a next-send instant moved on, a
task marked overdue or processed, a reminder sent), leaves a dead entry behind, inside the
range every later probe reads until VACUUM gets to the table. An index scan that walks past
such an entry marks it dead in the index, and later scans skip it (~0.3 µs a page of them). A
bitmap scan, which the planner takes when it expects few rows, never marks one and reads its
heap row again on every probe. Measured on the copy at a million users: 10,000 rows moved
since the last VACUUM made an idle digest read 3.4 ms, 50,000 made it 58 ms; walked in order,
1.5 ms (``bench/results/report.md``, session 10).

So the probes run on an engine of their own whose sessions have bitmap scans off: set once
when a connection opens (``SET LOCAL`` around each probe cost ~0.35 ms a tick in three
round trips), except behind a transaction-mode pooler, where a session keeps nothing and
each probe pays them (``db.engine``). The batches, which read rows by their keys, keep the
main engine and the planner's full choice.

They are not made to keep generic plans (``plan_cache_mode = force_generic_plan``), though
that saved the local-time read ~125 µs of planning a tick (session 14): a generic plan is
costed for a range of unknown width, and the overdue scan's one-sided range (``due_date <
now``) was then read without walking its index, leaving its dead entries for every later
scan (``tests/integration/test_task_overdue.py`` failed in CI). Statements still name their
partial indexes' constants (``db.inline_constants``), so a plan PostgreSQL keeps can use
them.

Nor do they start parallel workers: the appointments' selection, planned for ranges of
unknown width, gathered five index walks that find nothing from two workers started for it
on every tick (~7 ms at a million appointments, against ~0.1 ms in the session's own
process).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.config import Settings
from notifier.db.engine import engine_for

# What a probe's session is planned with.
IN_INDEX_ORDER = {"enable_bitmapscan": "off", "max_parallel_workers_per_gather": "0"}
# A tick's probes run one at a time, ticks of different jobs side by side; an engine's
# overflow doubles this when many ticks start together.
PROBE_POOL_SIZE = 4


def make_probe_engine(settings: Settings, main: AsyncEngine) -> AsyncEngine:
    """The engine the ticks' probes run on; SQLite has no bitmap scans, so it shares
    ``main`` there."""
    if main.dialect.name != "postgresql":
        return main
    return engine_for(settings, pool_size=PROBE_POOL_SIZE, session_settings=IN_INDEX_ORDER)
