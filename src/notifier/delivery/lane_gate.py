"""A worker's send slots handed out by lane: a reminder's send does not queue behind a digest's.

``Services.send_gate`` bounds the sends in flight per process (``SEND_WINDOW``). Every send of
every running batch waits on it, so with twenty digest batches running, ten thousand digest
sends wait there in arrival order, and a reminder arriving after them would wait for all of
them (seconds), although the lanes took its batch first. ``LaneGate`` keeps the semaphore as
the count of slots and hands each freed slot straight to the waiter of the most urgent lane
(arrival order within a lane). Lower lanes wait only while a higher one is waiting: at the
rate sends finish, lane 1 never holds the slots for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import AsyncIterator

from notifier.rules.kinds import LANES


class LaneGate:
    """The slots of ``gate``, given to waiters lane by lane (1 first)."""

    def __init__(self, gate: asyncio.Semaphore) -> None:
        self._gate = gate
        self._waiting: dict[int, deque[asyncio.Future[None]]] = {lane: deque() for lane in LANES}

    @contextlib.asynccontextmanager
    async def slot(self, lane: int) -> AsyncIterator[None]:
        """Holds one send slot for the block."""
        await self._acquire(lane if lane in self._waiting else max(LANES))
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, lane: int) -> None:
        if not self._gate.locked() and not any(self._waiting.values()):
            await self._gate.acquire()  # a free slot and nobody waiting: at once
            return
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[lane].append(handed)
        try:
            await handed
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self._release()  # the slot reached us as we were cancelled: pass it on
            else:
                self._waiting[lane].remove(handed)
            raise

    def _release(self) -> None:
        """Hands the slot to the most urgent waiter, or back to the semaphore."""
        for lane in LANES:
            queue = self._waiting[lane]
            while queue:
                handed = queue.popleft()
                if not handed.done():
                    handed.set_result(None)
                    return
        self._gate.release()


_GATES: weakref.WeakKeyDictionary[asyncio.Semaphore, LaneGate] = weakref.WeakKeyDictionary()


def lane_gate(gate: asyncio.Semaphore) -> LaneGate:
    """The one ``LaneGate`` over this process's send gate."""
    found = _GATES.get(gate)
    if found is None:
        found = _GATES[gate] = LaneGate(gate)
    return found
