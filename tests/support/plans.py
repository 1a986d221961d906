"""What PostgreSQL's plans visit: for tests of how probes read their indexes
(``notifier.db.index_order``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


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
    sync = conn.sync_connection
    assert sync is not None
    mapping = sync.get_execution_options().get("schema_translate_map") or {}
    compiled = stmt.compile(
        dialect=conn.dialect,
        schema_translate_map=mapping,
        compile_kwargs={"literal_binds": True},
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
