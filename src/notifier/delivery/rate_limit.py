"""``SMTP_RATE_LIMIT``: one relay rate shared by every worker, kept in Redis.

A relay caps the sending rate of an account (Amazon SES starts at 14 messages a second) and
answers 454 or 421 past it, which it counts against the sender. Every worker process sends
through the same relay, so the rate is kept where they all see it: a GCRA ("virtual
scheduling") in one Lua script on Redis's clock. Each send reserves the next free instant
(``theoretical arrival time`` + 1/rate) and sleeps until it, so sends leave evenly spaced
across the pool, with no polling and no burst.

Lanes: a send may only reserve an instant at most its lane's horizon ahead
(``LANE_HORIZON_SECONDS``). When reminders (lane 1) are waiting, they book the rate up to 2 s
ahead, and a digest (lane 2, horizon 0.5 s) gets an instant only once lane 1's bookings have
drained below its horizon: the rate is spent by lanes in priority order. A send refused for its
horizon learns how long until it may ask again, and sleeps that long.

A 421 or 454 answer pauses the whole pool: ``refused`` moves a shared ``paused until``
instant forward (1 s, doubling while refusals follow a pause, at most 30 s), which every
reservation respects. Refusals of one burst (several connections answered at once) count
once. The refused message itself is retried by dispatch's backoff, after the pause.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from notifier.config import Settings

# How far ahead a send of each lane may book the relay's rate.
LANE_HORIZON_SECONDS: dict[int, float] = {1: 2.0, 2: 0.5, 3: 0.25}
PAUSE_FIRST_SECONDS = 1.0
PAUSE_MAX_SECONDS = 30.0
# Refusals more than this apart start the pause over at its first length.
STRIKES_FORGOTTEN_SECONDS = 60
# Reply codes of a relay telling us to slow down (RFC 5321 421; RFC 3463 4.7.0 with 454).
SLOW_DOWN_CODES = frozenset({421, 454})
KEY_PREFIX = "notifier:smtp-rate"

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

_RESERVE = (
    _NOW
    + """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(tat, now, paused)
local wait = start - now
local horizon = tonumber(ARGV[2])
if wait > horizon then
  return -(wait - horizon)
end
local next_at = start + tonumber(ARGV[1])
local keep_ms = math.ceil((next_at - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', next_at), 'PX', keep_ms)
return wait
"""
)

_PAUSE = (
    _NOW
    + """
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then
  return paused - now
end
local strikes = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
local pause = math.min(tonumber(ARGV[1]) * 2 ^ (strikes - 1), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], string.format('%.0f', now + pause), 'PX', math.ceil(pause / 1000) + 1000)
return pause
"""
)


def _micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


class RelayLimiter:
    """The pool-wide rate of one relay; every worker's limiter with the same keys shares it."""

    def __init__(self, client: Any, rate: float, prefix: str | None = None) -> None:
        self._redis = client
        self._interval = _micros(1 / rate)
        prefix = prefix or KEY_PREFIX
        self._tat, self._paused, self._strikes = (f"{prefix}:{k}" for k in ("tat", "paused", "n"))

    async def acquire(self, lane: int) -> None:
        """Waits for this send's instant; a lane beyond its horizon waits to ask again."""
        horizon = _micros(LANE_HORIZON_SECONDS.get(lane, min(LANE_HORIZON_SECONDS.values())))
        while True:
            wait = int(
                await self._redis.eval(
                    _RESERVE, 2, self._tat, self._paused, self._interval, horizon
                )
            )
            await asyncio.sleep(abs(wait) / 1_000_000)
            if wait >= 0:
                return

    async def refused(self) -> float:
        """A relay said 421/454: pauses every worker's sends; returns the pause in seconds."""
        pause = await self._redis.eval(
            _PAUSE,
            2,
            self._paused,
            self._strikes,
            _micros(PAUSE_FIRST_SECONDS),
            _micros(PAUSE_MAX_SECONDS),
            STRIKES_FORGOTTEN_SECONDS,
        )
        return int(pause) / 1_000_000

    async def close(self) -> None:
        await self._redis.aclose()


def relay_limiter(settings: Settings) -> RelayLimiter | None:
    """The limiter ``SMTP_RATE_LIMIT`` asks for, on the worker's Redis; None when unset."""
    if settings.smtp_rate_limit is None:
        return None
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    return RelayLimiter(client, settings.smtp_rate_limit)
