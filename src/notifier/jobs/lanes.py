"""Priority lanes for batches: the order is decided when a worker takes a batch, not when a
tick enqueues it (arq has no priorities, arq issue #126).

Why not one arq job per batch: arq runs its queue by score, and a cron tick is enqueued with
its tick's instant as its score, so a tick queued behind 200 digest batches waits for every one
of them to start, and the reminders it would select wait with it. Here a tick puts its batches
in one Redis sorted set per arq queue, each ranked ``enqueued − head start of its lane``
(earliest rank first), and enqueues a few small arq "tokens" (``fanout.take_batch``). A token
takes the best-ranked batch at the moment it runs, processes it, and enqueues its successor.
arq's queue therefore holds a few tokens, never the backlog: a cron tick waits for one batch to
finish, not for all of them.

The head starts make the order an earliest-deadline-first one: a lane-1 batch goes before any
lane-2 batch enqueued up to ``head start 1 − head start 2`` earlier, and a lane-3 batch that
has waited ``head start 1`` goes before any batch enqueued after it. So a lane never starves a
lower one for longer than the difference of their head starts (aging), however busy it is.

A batch taken is leased (``running``, ranked by its lease's end, on Redis's clock): a token
cancelled by SIGTERM gives it back at its old rank; one whose worker died is taken again by the
next token once the lease has run out. The batch's payload is kept ``ttl`` seconds from the
tick under a deterministic id and written only if absent, so a tick run twice (arq issue #196)
adds nothing; the database claim still decides who sends each slot.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from notifier.rules.kinds import JOB_LANES, LANES

# Seconds of head start per lane: lane 1 overtakes lane 2 by 15 minutes, lane 2 lane 3 by 15.
LANE_HEAD_START_SECONDS: dict[int, float] = {1: 1800.0, 2: 900.0, 3: 0.0}
TAKER_FUNCTION = "take_batch"

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1)[1]
if not id then
  id = redis.call('ZPOPMIN', KEYS[1])[1]
end
if not id then
  return false
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
return id
"""


@dataclass(frozen=True)
class LaneKeys:
    """The Redis keys of one arq queue's lanes: waiting batches, leased ones, payloads."""

    ready: str
    running: str
    payload_prefix: str

    @classmethod
    def for_queue(cls, queue: str) -> LaneKeys:
        """Keys beside the arq queue, so a test's own queue has lanes of its own."""
        return cls(f"{queue}:lanes", f"{queue}:lanes:running", f"{queue}:lanes:batch:")

    def payload(self, batch_id: str) -> str:
        return self.payload_prefix + batch_id


def lane_of(job: str) -> int:
    """The job's lane as ``rules.kinds`` declares it."""
    return JOB_LANES[job]


def batch_lane(batch_id: str) -> int:
    """The lane of a batch from its id, ``batch:<job>:<tick ms>:<index>`` (``fanout.batch_job_id``),
    so its depth per lane is counted without reading payloads; an id of no known job counts in
    the last lane, where ``delivery.lane_gate`` puts an unknown lane too."""
    parts = batch_id.split(":")
    job = parts[1] if len(parts) == 4 else ""
    return JOB_LANES.get(job, max(LANES))


def rank(enqueued_ms: int, lane: int) -> int:
    """The batch's place: its enqueue instant moved earlier by its lane's head start."""
    return enqueued_ms - int(LANE_HEAD_START_SECONDS[lane] * 1000)


async def put(redis: Any, keys: LaneKeys, batch_id: str, batch: dict[str, Any], ttl: int) -> bool:
    """Adds the batch unless its id is known already (a repeated tick); True when added."""
    added = await redis.set(keys.payload(batch_id), json.dumps(batch), nx=True, ex=ttl)
    if added:
        await redis.zadd(keys.ready, {batch_id: batch["rank"]})
    return bool(added)


async def take(redis: Any, keys: LaneKeys, lease_ms: int) -> tuple[str, dict[str, Any]] | None:
    """The best-ranked batch (or one whose lease ran out), leased to the caller; None: none.

    A batch whose payload expired (it waited longer than any of its slots can be sent) is
    dropped and the next one taken.
    """
    while True:
        found = await redis.eval(_TAKE, 2, keys.ready, keys.running, lease_ms)
        if found is None:
            return None
        batch_id = found.decode() if isinstance(found, bytes) else str(found)
        raw = await redis.get(keys.payload(batch_id))
        if raw is not None:
            return batch_id, json.loads(raw)
        await redis.zrem(keys.running, batch_id)


async def done(redis: Any, keys: LaneKeys, batch_id: str) -> None:
    """The batch ran (or failed for good): its lease goes; its payload stays to refuse repeats."""
    await redis.zrem(keys.running, batch_id)


async def give_back(redis: Any, keys: LaneKeys, batch_id: str, batch: dict[str, Any]) -> None:
    """A batch cut short (worker stopping) goes back at its old rank for another worker."""
    await redis.zadd(keys.ready, {batch_id: batch["rank"]})
    await redis.zrem(keys.running, batch_id)


async def waiting(redis: Any, keys: LaneKeys) -> int:
    """Batches waiting or leased: whether a token's successor has anything to take."""
    return int(await redis.zcard(keys.ready)) + int(await redis.zcard(keys.running))


async def depth(redis: Any, keys: LaneKeys) -> dict[int, tuple[int, int]]:
    """Per lane, batches waiting and batches leased (a lease that ran out still counts as
    leased until a token takes the batch again); read-only, for ``/health`` and ``/metrics``."""
    waiting = _per_lane(await redis.zrange(keys.ready, 0, -1))
    leased = _per_lane(await redis.zrange(keys.running, 0, -1))
    return {lane: (waiting.get(lane, 0), leased.get(lane, 0)) for lane in LANES}


def _per_lane(members: list[bytes | str]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for member in members:
        lane = batch_lane(member.decode() if isinstance(member, bytes) else member)
        counts[lane] = counts.get(lane, 0) + 1
    return counts


async def start_tokens(redis: Any, count: int, now_ms: int) -> None:
    """Enqueues ``count`` tokens on arq's queue; each takes one batch, then starts the next."""
    for _ in range(count):
        await redis.enqueue_job(TAKER_FUNCTION, _job_id=f"lanes:{now_ms}:{uuid.uuid4().hex[:12]}")
