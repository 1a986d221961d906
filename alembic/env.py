"""Alembic environment: runs migrations on the async engine of DATABASE_URL."""

from __future__ import annotations

import asyncio
import os
import re
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from notifier.config import to_async_url
from notifier.db.engine import Schemas, make_engine
from notifier.db.migration_scope import OWN_TABLES_ONLY
from notifier.db.schema import metadata

config = context.config
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL", "")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    return to_async_url(url)


def _schemas() -> Schemas:
    """``NOTIFIER_SCHEMA`` and ``HOST_SCHEMA``: from ``notifier migrate``, else the
    environment (a bare ``alembic upgrade``)."""
    given = config.attributes.get("schemas")
    if isinstance(given, Schemas):
        return given
    env = os.environ
    schemas = Schemas(env.get("NOTIFIER_SCHEMA", "public"), env.get("HOST_SCHEMA", "public"))
    if not all(_PLAIN_NAME.fullmatch(name) for name in (schemas.own, schemas.host)):
        raise SystemExit("NOTIFIER_SCHEMA and HOST_SCHEMA must be plain lower-case names")
    return schemas


def _run(connection: Connection) -> None:
    """Migrations run with the worker's schema first on the session's ``search_path`` (their
    hand-written SQL names no schema) and Alembic's version table in it."""
    schemas = _schemas()
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        _prepare_schemas(connection, schemas)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=not postgresql,
        compare_type=True,
        version_table_schema=schemas.own if postgresql else None,
    )
    with context.begin_transaction():
        context.run_migrations()


def _prepare_schemas(connection: Connection, schemas: Schemas) -> None:
    """Refuses a host schema apart from the worker's unless only the worker's own tables are
    made; creates the worker's schema if missing; puts it on the ``search_path``."""
    own_only = config.attributes.get(OWN_TABLES_ONLY, False)
    if schemas.host != schemas.own and not own_only:
        raise SystemExit(
            "HOST_SCHEMA differs from NOTIFIER_SCHEMA: the host's tables are the host's; "
            "run notifier migrate --own-tables-only"
        )
    exists = connection.exec_driver_sql(
        "SELECT 1 FROM pg_namespace WHERE nspname = $1", (schemas.own,)
    ).first()
    if exists is None:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schemas.own}"')
    connection.exec_driver_sql(f'SET search_path TO "{schemas.own}"')
    connection.commit()  # a session setting; Alembic then opens its own transactions


async def _run_async() -> None:
    schemas = _schemas()
    # The migrations name no schema: each engine maps both kinds of table to the worker's.
    engine = make_engine(_url(), pool_size=1, schemas=Schemas(schemas.own, schemas.own))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
