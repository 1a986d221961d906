"""A tick split in two halves that every sending kind shares: select what is due, send a batch.

Each kind exposes ``due_ids(services, now)`` (an indexed query for the ids due at the tick's
instant) and ``process_batch(services, ids, tick)`` (re-read those rows, plan, dispatch). Run
back to back in one process they make ``run_tick``, which ``notifier run`` and small ticks
use; in a worker, a tick with more than one batch enqueues the batches as arq jobs so that
every worker shares the sending (``jobs.fanout``). The halves are the same code either way.

A batch may run seconds after its tick, on another worker. ``TickInstant`` carries both
instants it needs: the tick's own (windows are computed from it, so a slot selected near the
window's edge is still sent) and "now on the tick's timeline" for the send-time checks (an
appointment that started while its batch waited is not reminded).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.app import Clock, Services
from notifier.batching import batched
from notifier.services.counts import TickCounts


@dataclass(frozen=True)
class TickInstant:
    """The tick's instant, and the wall clock when its sending began (None: no time passed)."""

    instant: datetime
    began: datetime | None = None

    def current(self, clock: Clock) -> datetime:
        """Now on the tick's timeline: its instant plus how long ago it began (a replay with
        ``--at`` keeps its own instant; a batch run late sees the time that has passed)."""
        if self.began is None:
            return self.instant
        return self.instant + max(clock() - self.began, timedelta(0))


DueIds = Callable[[Services, datetime], Awaitable[list[uuid.UUID]]]
ProcessBatch = Callable[[Services, Sequence[uuid.UUID], TickInstant], Awaitable[TickCounts]]


@dataclass(frozen=True)
class BatchedJob:
    """The one shape of every sending job's tick: its two halves, and the whole tick they
    make back to back (``notifier run``, small ticks). Each kind's module builds its ``JOB``
    from its selection and its batch step; the registry and the fan-out know only this."""

    due_ids: DueIds
    process_batch: ProcessBatch

    async def run_tick(self, services: Services, now: datetime) -> TickCounts:
        """One tick at ``now``, both halves in this process."""
        return await run_inline(services, now, self.due_ids, self.process_batch)


async def run_inline(
    services: Services, now: datetime, due_ids: DueIds, process_batch: ProcessBatch
) -> TickCounts:
    """Both halves in this process, batch after batch: the whole tick."""
    ids = await due_ids(services, now)
    # Later batches of a long tick see the time that has passed, as fanned-out batches do.
    tick = TickInstant(now, services.clock())
    counts = TickCounts()
    for chunk in batched(ids, services.settings.batch_size):
        counts += await process_batch(services, chunk, tick)
    return counts
