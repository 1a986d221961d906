"""Whether ``DATABASE_URL`` leads to a pooler that lends one server connection to several
clients (transaction or statement pooling), told by PostgreSQL's own backend process ids.

PostgreSQL itself, and a session pooler, keep one server connection for a client's whole
session: two clients open at the same time never see the same backend. A transaction pooler
gives the connection a transaction has just handed back to the next client that asks
(PgBouncer takes the most recently released one first, unless ``server_round_robin`` is on),
so a second client usually sees the first one's backend. Under ``DATABASE_POOLING=session``
the worker keeps prepared statements and settings in its sessions, which such a pooler hands
to other clients: ``notifier check`` fails, and the processes refuse to start
(``cli.pooling_guard``), before it shows as errors in production.

A busy pooler, or one that spreads connections round-robin, can hide the sharing, so a
``False`` proves nothing; a ``True`` is certain.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.config import Settings
from notifier.db.engine import engine_for

TRIES = 3
# What ``notifier check`` and a refused start say, after their own opening words.
SHARED_SESSIONS = (
    "reached through a pooler that lends one server connection to several clients "
    "(transaction pooling), where the worker must keep nothing in a session: "
    'set DATABASE_POOLING=transaction (runbook, "Behind a connection pooler")'
)


async def session_settings_would_leak(settings: Settings) -> bool:
    """``DATABASE_POOLING=session`` where a pooler lends server connections to other
    clients: the worker's prepared statements and settings would land in their sessions."""
    if settings.database_pooling != "session":
        return False
    if not make_url(settings.async_database_url()).drivername.startswith("postgresql"):
        return False
    return await shares_server_connections(settings)


async def shares_server_connections(settings: Settings, tries: int = TRIES) -> bool:
    """True once two clients open at the same time were served by one backend.

    The probe's engine is built for transaction pooling whatever the setting says, so that
    its own statements are safe behind any pooler (no statement kept in a session)."""
    safe = settings.model_copy(update={"database_pooling": "transaction"})
    engine = engine_for(safe, pool_size=2)
    try:
        for _ in range(tries):
            if await _one_backend_for_two_clients(engine):
                return True
        return False
    finally:
        await engine.dispose()


async def _one_backend_for_two_clients(engine: AsyncEngine) -> bool:
    """Two client connections, both kept open; each asks for its backend in a transaction
    of its own, the first one's ended before the second starts."""
    async with engine.connect() as first, engine.connect() as second:
        return await _backend_of(first) == await _backend_of(second)


async def _backend_of(conn: AsyncConnection) -> int:
    """The backend's process id; the transaction ends, so a pooler may lend it elsewhere."""
    pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    await conn.commit()
    return int(pid)
