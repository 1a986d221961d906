"""``notifier host-triggers``: the statement-level triggers that tell the worker the host's
schedules changed, on the base tables behind the host's views (migration 0009 says why).

PostgreSQL records which relations a view reads (``pg_depend`` of the view's rewrite rule);
the base tables are found through views of views too. Only the relations behind ``users``,
``workspaces`` and ``notification_settings`` matter: they make the local-time copy.
Installing is explicit, idempotent and done by a role that may create triggers on those tables;
removing drops exactly the triggers of that name.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.db.engine import host_schema, own_schema, qualified

TRIGGER = "notifier_host_changed"
SCHEDULE_RELATIONS = ("users", "workspaces", "notification_settings")

# The tables (and partitioned tables) the named relations of a schema are or read, through
# any depth of views.
_BASE_TABLES = """
WITH RECURSIVE reads(oid) AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema AND c.relname = ANY(:names)
  UNION
    SELECT d.refobjid FROM reads
    JOIN pg_rewrite r ON r.ev_class = reads.oid
    JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass
     AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> reads.oid
)
SELECT format('%I.%I', n.nspname, c.relname) FROM reads
JOIN pg_class c ON c.oid = reads.oid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') ORDER BY 1
"""
_INSTALLED = f"""
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE t.tgname = '{TRIGGER}' ORDER BY 1
"""


async def base_tables(conn: AsyncConnection) -> list[str]:
    """The qualified base tables behind the host's schedule relations."""
    params = {"schema": host_schema(conn) or "public", "names": list(SCHEDULE_RELATIONS)}
    return list((await conn.execute(text(_BASE_TABLES), params)).scalars())


async def install(conn: AsyncConnection) -> list[str]:
    """Puts the trigger on each base table, marks it installed and asks for one refresh."""
    tables = await base_tables(conn)
    function = qualified(own_schema(conn), "notifier_host_changed")
    for table in tables:
        await conn.execute(text(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}"))
        await conn.execute(
            text(
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
                f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
        )
    await _mark(conn, installed=bool(tables))
    return tables


async def remove(conn: AsyncConnection) -> list[str]:
    """Drops every trigger of that name and marks the copy as no longer kept."""
    tables = list((await conn.execute(text(_INSTALLED))).scalars())
    for table in tables:
        await conn.execute(text(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}"))
    await _mark(conn, installed=False)
    return tables


async def _mark(conn: AsyncConnection, *, installed: bool) -> None:
    own = own_schema(conn)
    await conn.execute(
        text(f"UPDATE {qualified(own, 'host_sync')} SET installed = :on WHERE id = 1"),
        {"on": installed},
    )
    if installed:
        await conn.execute(text(f"INSERT INTO {qualified(own, 'host_changes')} DEFAULT VALUES"))
