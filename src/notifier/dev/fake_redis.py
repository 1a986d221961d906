"""The Redis stand-in: fakeredis in process, for arq and for the health probe.

arq's ``Worker.main()`` logs the server's ``INFO``, a command fakeredis lacks; the patch that
makes it a no-op is applied for the dev run only and undone afterwards (measured in
shared/arq-notes.md: nothing else of arq needs changing, no Lua).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import fakeredis
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool, Redis


async def _no_redis_info(_redis: Any, _log: Any) -> None:
    """Stands in for ``arq.connections.log_redis_info``: fakeredis has no ``INFO``."""


def arq_on_fakeredis() -> contextlib.AbstractContextManager[object]:
    """While active, arq workers start on fakeredis (``INFO`` is skipped)."""
    patcher: contextlib.AbstractContextManager[object] = patch(
        "arq.worker.log_redis_info", new=_no_redis_info
    )
    return patcher


@dataclass
class FakeRedis:
    """One in-memory server; every client made here sees the same data."""

    server: fakeredis.FakeServer

    def _pool(self) -> ConnectionPool:
        return ConnectionPool(
            connection_class=fakeredis.FakeAsyncRedisConnection, server=self.server
        )

    def arq_pool(self) -> ArqRedis:
        """The pool handed to arq's ``Worker(redis_pool=…)``."""
        return ArqRedis(connection_pool=self._pool())

    def client(self) -> Redis:
        """A plain client, for the health probe."""
        return Redis(connection_pool=self._pool())


def open_fake_redis() -> FakeRedis:
    return FakeRedis(fakeredis.FakeServer())
