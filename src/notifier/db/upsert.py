"""The dialect-specific constructs we need: insert ignoring rows that exist, and upsert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from notifier.db.engine import own_schema, qualified
from notifier.db.types import UtcDateTime


def insert_ignoring_conflicts(
    dialect_name: str, table: Table, conflict_columns: Sequence[str]
) -> Insert:
    """``INSERT … ON CONFLICT (cols) DO NOTHING`` in the caller's dialect."""
    module: Any = postgresql if dialect_name == "postgresql" else sqlite
    if dialect_name not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"unsupported database dialect {dialect_name!r}")
    stmt: Insert = module.insert(table).on_conflict_do_nothing(
        index_elements=list(conflict_columns)
    )
    return stmt


def upsert(
    dialect_name: str,
    table: Table,
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
    where: ColumnElement[bool],
) -> Insert:
    """``INSERT … ON CONFLICT (cols) DO UPDATE SET`` ``update_columns`` from the new row, only
    where the existing row matches ``where``, in the caller's dialect."""
    module: Any = postgresql if dialect_name == "postgresql" else sqlite
    if dialect_name not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"unsupported database dialect {dialect_name!r}")
    stmt = module.insert(table)
    new = {name: getattr(stmt.excluded, name) for name in update_columns}
    done: Insert = stmt.on_conflict_do_update(
        index_elements=list(conflict_columns), set_=new, where=where
    )
    return done


async def raise_mark(
    conn: AsyncConnection, table: str, column: str, kind: str, until: datetime
) -> None:
    """Sets a per-kind mark (``table``: ``kind`` and ``column``) to ``until`` unless it is
    further on already: marks say how far ticks got, and a tick behind never lowers one."""
    name = qualified(own_schema(conn), table)
    sql = (
        f"INSERT INTO {name} AS m (kind, {column}) VALUES (:kind, :until)"
        f" ON CONFLICT (kind) DO UPDATE SET {column} = CASE"
        f" WHEN excluded.{column} > m.{column} THEN excluded.{column}"
        f" ELSE m.{column} END"
    )
    stmt = text(sql).bindparams(bindparam("until", type_=UtcDateTime()), kind=kind)
    await conn.execute(stmt, {"until": until})
