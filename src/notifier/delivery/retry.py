"""Transient SMTP failures are retried with exponential backoff and full jitter.

Jitter spreads a burst of retries after an outage; the deadline keeps a retry from running
past the slot's catch-up window, after which the next tick owns the slot again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from notifier.delivery.smtp import SendError


def backoff_delay(attempt: int, base: float, cap: float = 60.0, rand: float = 1.0) -> float:
    """Full-jitter delay before retry number ``attempt`` (1-based); ``rand`` in [0, 1]."""
    return float(min(cap, base * (2 ** (attempt - 1))) * rand)


async def send_with_retry(
    send: Callable[[], Awaitable[None]],
    *,
    max_attempts: int,
    base_delay: float,
    deadline: float,
) -> int:
    """Calls ``send`` until it succeeds; returns attempts used, raises the last SendError.

    ``deadline`` is a ``time.monotonic()`` value: no retry starts after it.
    """
    attempt = 1
    while True:
        try:
            await send()
            return attempt
        except SendError as err:
            delay = backoff_delay(attempt, base_delay, rand=random.random())
            if err.permanent or attempt >= max_attempts or time.monotonic() + delay > deadline:
                err.attempts = attempt
                raise
        attempt += 1
        await asyncio.sleep(delay)
