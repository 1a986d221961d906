"""Refuses to start a process under ``DATABASE_POOLING=session`` whose database is reached
through a transaction pooler (``db.pooler_detection``).

There the settings the worker gives its sessions (``jit``, the probes' planner settings) stay
on server connections the host application is lent next, and its cached statements clash
with other clients'. Stopping at the start, with the variable named, beats a production that
fails now and then. A database that does not answer gives no verdict and stops nothing: the
worker rides out outages, and ``notifier check`` tells the same once it can connect.
"""

from __future__ import annotations

import asyncio
import sys

import structlog

from notifier.config import Settings
from notifier.db.pooler_detection import SHARED_SESSIONS, session_settings_would_leak

log = structlog.get_logger("notifier.pooling")
GUARD_TIMEOUT_SECONDS = 5.0
REFUSAL = f"notifier: the database is {SHARED_SESSIONS}"


def refuses_to_start(settings: Settings) -> bool:
    """True, after saying why on stderr, when this process must not start."""
    if not asyncio.run(_leaks(settings)):
        return False
    log.error("database_pooling_mismatch")
    print(REFUSAL, file=sys.stderr)
    return True


async def _leaks(settings: Settings) -> bool:
    try:
        async with asyncio.timeout(GUARD_TIMEOUT_SECONDS):
            return await session_settings_would_leak(settings)
    except Exception as exc:
        log.info("pooling_guard_skipped", error=type(exc).__name__)
        return False
