"""The dialect-specific constructs we need: insert ignoring rows that exist, and upsert."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


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
