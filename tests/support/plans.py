"""What PostgreSQL's plans visit: for tests of how probes read their indexes
(``notifier.db.index_order``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement


async def commits_flushed(engine: AsyncEngine) -> None:
    """Every commit so far written to the WAL. A scan marks an index entry dead only once
    the hint bits of its row are set, and those wait for the commit's WAL; the test server
    commits asynchronously (``synchronous_commit = off``), a deployment by default does not."""
    async with engine.connect() as conn:
        await conn.execute(text("SET LOCAL synchronous_commit = on"))
        await conn.execute(text("SELECT txid_current()"))
        await conn.commit()


async def analyzed(engine: AsyncEngine, table: str) -> None:
    """``table``'s statistics as autovacuum would have left them."""
    async with engine.connect() as conn:
        await conn.execute(text(f"ANALYZE {table}"))
        await conn.commit()


async def bitmap_heap_blocks(
    conn: AsyncConnection, sql: str, params: Sequence[Any], table: str
) -> int:
    """The heap blocks of ``table`` a bitmap scan of ``sql`` visits: one for each block that
    index entries in its range still point to, live or dead and not yet marked so."""
    await conn.execute(text("SET LOCAL enable_indexscan = off"))
    await conn.execute(text("SET LOCAL enable_seqscan = off"))
    explain = "EXPLAIN (ANALYZE, FORMAT JSON) " + sql
    plan = (await conn.exec_driver_sql(explain, tuple(params))).scalar_one()
    await conn.rollback()
    scans = [n for n in plan_nodes(plan[0]["Plan"]) if n.get("Relation Name") == table]
    assert [n["Node Type"] for n in scans] == ["Bitmap Heap Scan"]
    return int(scans[0]["Exact Heap Blocks"])


def literal_sql(conn: AsyncConnection, stmt: Select[Any]) -> str:
    """``stmt`` as PostgreSQL text with its values written in, in this connection's schemas."""
    return _compiled(conn, stmt, literal_binds=True)


def prepared_sql(conn: AsyncConnection, stmt: ClauseElement) -> str:
    """``stmt`` as PostgreSQL text with ``$n`` parameters, as asyncpg prepares it, in this
    connection's schemas."""
    return _compiled(conn, stmt, render_postcompile=True)


def _compiled(conn: AsyncConnection, stmt: ClauseElement, **compile_kwargs: bool) -> str:
    sync = conn.sync_connection
    assert sync is not None
    mapping = sync.get_execution_options().get("schema_translate_map") or {}
    compiled = stmt.compile(
        dialect=conn.dialect, schema_translate_map=mapping, compile_kwargs=compile_kwargs
    )
    # Executing a statement puts its schemas in place of these marks; this text is run by hand.
    return re.sub(r"__\[SCHEMA_(\w+)\]\.", lambda m: _prefix(mapping, m.group(1)), str(compiled))


def _prefix(mapping: dict[str | None, str | None], mark: str) -> str:
    """``"schema".`` for a schema mark (``_none``: the tables declared without one)."""
    schema = mapping.get(None if mark == "_none" else mark)
    return f'"{schema}".' if schema else ""


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """``node`` and every node below it in an ``EXPLAIN (FORMAT JSON)`` plan."""
    return [node, *(n for child in node.get("Plans", []) for n in plan_nodes(child))]


@dataclass(frozen=True)
class GenericPlan:
    """What a generic plan reads: indexes by name, tables read whole."""

    indexes: set[str]
    seq_scans: set[str]


async def generic_plan(conn: AsyncConnection, sql: str) -> GenericPlan:
    """The *generic* plan of ``sql``: the plan PostgreSQL may keep for a prepared statement
    after its fifth run, made for any parameter values. Sequential scans are discouraged, so
    an index that can serve the plan is in it, and a table read whole has no index that can."""
    await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    await conn.execute(text("SET LOCAL enable_seqscan = off"))
    count = max((int(n) for n in re.findall(r"\$(\d+)", sql)), default=0)
    await conn.exec_driver_sql(f"PREPARE generic_probe AS {sql}")
    nulls = f"({', '.join(['NULL'] * count)})" if count else ""
    explain = f"EXPLAIN (FORMAT JSON) EXECUTE generic_probe{nulls}"
    plan = (await conn.exec_driver_sql(explain)).scalar_one()
    await conn.exec_driver_sql("DEALLOCATE generic_probe")  # a session's, not a transaction's
    await conn.rollback()
    nodes = plan_nodes(plan[0]["Plan"])
    return GenericPlan(
        {str(node["Index Name"]) for node in nodes if "Index Name" in node},
        {str(node["Relation Name"]) for node in nodes if node["Node Type"] == "Seq Scan"},
    )
