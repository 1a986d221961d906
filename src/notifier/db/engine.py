"""Engine construction; called from the worker's startup or the CLI, never at import.

Behind a pooler in transaction mode (``DATABASE_POOLING = transaction``: PgBouncer's
``pool_mode = transaction`` and its likes), a server connection is lent for one transaction,
then to another client, perhaps the host application's. So nothing may live in a session:

- no prepared statement outlives its transaction: asyncpg's and SQLAlchemy's statement caches
  are off and each statement gets a name no other client uses (SQLAlchemy's advice for
  PgBouncer); every statement is prepared again, a round trip more;
- no session settings: a ``SET`` would stay on a server connection other clients get. An
  engine with ``session_settings`` (the probes') sets them with ``set_config(..., true)`` at
  the start of each transaction of ``autocommit``; other engines leave ``jit`` as the server
  has it (``ALTER ROLE ... SET jit = off`` sets it for the worker's role);
- no statement outside a transaction: a statement's preparation and its execution could
  reach two server connections, so ``autocommit`` opens a transaction (two round trips more).

Migrations need one session for their ``search_path``: ``notifier migrate`` refuses that mode.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from notifier.config import Pooling, Settings, to_async_url
from notifier.db.schema import HOST

# An engine's execution option, set only behind a transaction-mode pooler: the statement that
# applies its settings inside a transaction ("" when it has none); see the module's docstring.
LOCAL_SETTINGS = "notifier_local_settings"
_PLAIN_SETTING = re.compile(r"[A-Za-z0-9_.]+")
# A pooled connection idle longer than this is pinged before use (see ``make_engine``).
PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE = "notifier_idle_since"


@dataclass(frozen=True)
class Schemas:
    """Where the worker's own tables live and where it reads the host's (contract section 12)."""

    own: str = "public"
    host: str = "public"

    @classmethod
    def of(cls, settings: Settings) -> Schemas:
        return cls(settings.notifier_schema, settings.host_schema)


def schema_map(schemas: Schemas, dialect_name: str) -> dict[str | None, str | None]:
    """SQLAlchemy's ``schema_translate_map``: the worker's tables (no schema in
    ``db.schema``) and the host's (``HOST``) to their schemas. SQLite has one namespace."""
    if dialect_name == "sqlite":
        return {None: None, HOST: None}
    return {None: schemas.own, HOST: schemas.host}


def own_schema(conn: AsyncConnection) -> str | None:
    """The schema of the worker's tables on this connection, for hand-written SQL."""
    mapped = (
        conn.sync_connection.get_execution_options().get("schema_translate_map")
        if conn.sync_connection
        else None
    )
    return mapped.get(None) if mapped else None


def host_schema(conn: AsyncConnection) -> str | None:
    """The schema of the host's tables on this connection, for hand-written SQL."""
    sync = conn.sync_connection
    mapped = sync.get_execution_options().get("schema_translate_map") if sync else None
    return mapped.get(HOST) if mapped else None


def qualified(schema: str | None, name: str) -> str:
    """``"schema".name``, or ``name`` where there is no schema (SQLite)."""
    return f'"{schema}".{name}' if schema else name


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    schemas: Schemas | None = None,
    session_settings: Mapping[str, str] | None = None,
    pooling: Pooling = "session",
) -> AsyncEngine:
    """An async engine that survives database restarts.

    Every statement it runs names the schema of each table (``schema_map``), whatever the
    role's ``search_path``: ``schemas`` (default ``public`` for both) says which.

    ``hide_parameters``: an error's text (logged, stored in ``job_runs.error``) never carries
    the statement's parameters, which hold user data such as addresses and names.

    PostgreSQL: ``jit`` is off for the worker's sessions. Its queries are short index probes
    whose estimated cost can still pass ``jit_above_cost`` (the local-time selection's does),
    and compiling costs ~190 ms for a ~3 ms query. ``session_settings`` adds more of them
    (``db.index_order``). With ``pooling = "session"`` they are set once, when a connection
    opens (one statement, not in the startup packet, which PgBouncer refuses); with
    ``"transaction"`` see the module's docstring.
    """
    url = to_async_url(url)
    mapped = schema_map(schemas or Schemas(), "sqlite" if url.startswith("sqlite") else "pg")
    options: dict[str, Any] = {"schema_translate_map": mapped}
    if url.startswith("sqlite"):
        return _sqlite_engine(url, options)
    settings = {"jit": "off", **(session_settings or {})}
    if pooling == "transaction":
        local = set_config_sql(settings, local=True) if session_settings else ""
        options[LOCAL_SETTINGS] = local
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_use_lifo=True,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args=driver_options(pooling),
        execution_options=options,
    )
    watch_idle_connections(engine)
    if pooling == "session":
        set_at_connect(engine, set_config_sql(settings, local=False))
    return engine


def _sqlite_engine(url: str, options: dict[str, Any]) -> AsyncEngine:
    engine = create_async_engine(
        url, connect_args={"timeout": 30}, hide_parameters=True, execution_options=options
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def engine_for(
    settings: Settings, *, pool_size: int, session_settings: Mapping[str, str] | None = None
) -> AsyncEngine:
    """The engine a process builds from its settings: their URL, schemas and pooling."""
    return make_engine(
        settings.async_database_url(),
        pool_size=pool_size,
        schemas=Schemas.of(settings),
        session_settings=session_settings,
        pooling=settings.database_pooling,
    )


def driver_options(pooling: Pooling) -> dict[str, Any]:
    """asyncpg's connection options (transaction pooling: the module's docstring)."""
    if pooling == "session":
        return {}
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": unique_statement_name,
    }


def unique_statement_name() -> str:
    """A prepared statement's name that no other client of the pooler's connections uses."""
    return f"__notifier_{uuid.uuid4().hex}__"


def set_config_sql(settings: Mapping[str, str], *, local: bool) -> str:
    """One statement that applies every setting: one round trip. Names and values are the
    code's own constants, checked to be plain words before they go into the text."""
    scope = "true" if local else "false"
    for word in (*settings, *settings.values()):
        if not _PLAIN_SETTING.fullmatch(word):
            raise ValueError(f"not a plain setting word: {word!r}")
    calls = (f"set_config('{name}', '{value}', {scope})" for name, value in settings.items())
    return "SELECT " + ", ".join(calls)


def set_at_connect(engine: AsyncEngine, sql: str) -> None:
    """Runs ``sql`` on every new connection, outside any transaction (asyncpg's own
    ``execute``), so a first transaction rolled back cannot undo it."""

    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.run_async(lambda raw: raw.execute(sql))

    event.listen(engine.sync_engine, "connect", on_connect)


def watch_idle_connections(engine: AsyncEngine) -> None:
    """Pings a pooled connection before use only when it has been idle a while.

    ``pool_pre_ping`` pinged on every checkout, and asyncpg's ping is three round trips
    (BEGIN, ``;``, ROLLBACK): most of a tick with nothing due. A connection used within the
    last ``PING_AFTER_IDLE_SECONDS`` is almost surely alive; if the server did go away in
    that moment, the statement fails as a disconnect, SQLAlchemy invalidates the whole pool,
    the tick is recorded failed and the next one reconnects. A connection idle longer (the
    first checkout of a cron tick, any after an outage) is pinged, and a failed ping recycles
    it and every older pooled connection before the tick sees an error. LIFO checkout keeps
    reusing the warmest connection, so idle ones age out instead of being pinged in turn.
    """
    dialect = engine.sync_engine.dialect

    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        """A fresh connection (never checked in) is not pinged: it was just opened."""
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is not None and time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
            _ping(dialect, dbapi_connection)

    event.listen(engine.sync_engine, "checkin", _mark_idle)
    event.listen(engine.sync_engine, "checkout", ping_if_idle)


def _mark_idle(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping(dialect: Dialect, dbapi_connection: Any) -> None:
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        # InvalidatePoolError: the pool reconnects this one and recycles every older one.
        raise exc.InvalidatePoolError(str(error)) from error


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """WAL lets the dev-mode web inbox read while the worker writes."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose statements commit on their own: no BEGIN and COMMIT round trips.

    For a single read or a single write, which is atomic alone; a plain ``connect()`` would
    open a transaction for it and close it again, two round trips on PostgreSQL. Behind a
    transaction-mode pooler it is a transaction after all, which first applies the engine's
    settings (the module's docstring).
    """
    local_settings = engine.get_execution_options().get(LOCAL_SETTINGS)
    if local_settings is None:
        async with engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")
        return
    async with engine.begin() as conn:
        if local_settings:
            await conn.exec_driver_sql(local_settings)
        yield conn
