"""Engine construction; called from the worker's startup or the CLI, never at import."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from notifier.config import to_async_url


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine that survives database restarts (``pool_pre_ping``).

    ``hide_parameters``: an error's text (logged, stored in ``job_runs.error``) never carries
    the statement's parameters, which hold user data such as addresses and names.
    """
    url = to_async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        hide_parameters=True,
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """WAL lets the dev-mode web inbox read while the worker writes."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
