"""Whether the host's relations in ``HOST_SCHEMA`` give what the worker reads (contract
sections 1, 9, 10 and 12), and whether its role may do what it needs.

Tables or views: every column ``db.schema`` declares for a host table must be there with a
compatible type (a view may give a column the host has no setting for as a constant NULL,
cast to that type). ``notifier check`` prints the problems; a tick that fails on a missing or
mistyped host column records the same text in ``job_runs`` (``jobs.runs``), so the operator
reads one message in both places. The comparison is pure; reading the catalog is the edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Integer, Table, Text, Time, Uuid, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from notifier.db.engine import host_schema, own_schema
from notifier.db.schema import HOST, metadata
from notifier.db.types import HostJson, UtcDateTime, WallTime

# information_schema.columns.data_type names each declared type accepts.
_COMPATIBLE: tuple[tuple[type[TypeEngine[Any]], frozenset[str]], ...] = (
    (Uuid, frozenset({"uuid"})),
    (Text, frozenset({"text", "character varying", "character"})),
    (Boolean, frozenset({"boolean"})),
    (Integer, frozenset({"integer", "bigint", "smallint"})),
    (WallTime, frozenset({"time without time zone"})),
    (Time, frozenset({"time without time zone"})),
    (UtcDateTime, frozenset({"timestamp with time zone"})),
    (HostJson, frozenset({"json", "jsonb"})),
)
# The host relations the worker writes (contract section 12), and how.
_WRITES = {"tasks": ("UPDATE", "INSERT"), "task_reminders": ("UPDATE",)}
Found = Mapping[str, Mapping[str, str]]  # relation -> column -> data_type


@dataclass(frozen=True)
class Expected:
    """One column the worker reads, and the catalog types that can hold it."""

    relation: str
    column: str
    types: frozenset[str]

    @property
    def wanted(self) -> str:
        return " or ".join(sorted(self.types))


def host_tables() -> list[Table]:
    """The tables ``db.schema`` marks as the host's."""
    return [table for table in metadata.tables.values() if table.schema == HOST]


def expected_columns(tables: Sequence[Table] | None = None) -> list[Expected]:
    """Every column of the host's tables, with the catalog types compatible with it."""
    return [
        Expected(table.name, column.name, _types_of(column.type))
        for table in tables or host_tables()
        for column in table.columns
    ]


def _types_of(declared: TypeEngine[Any]) -> frozenset[str]:
    for kind, names in _COMPATIBLE:
        if isinstance(declared, kind):
            return names
    return frozenset({str(declared).lower()})


def problems(schema: str, expected: Sequence[Expected], found: Found) -> list[str]:
    """What is missing or mistyped, one line per relation, in a fixed order."""
    by_relation: dict[str, list[str]] = {}
    for want in expected:
        columns = found.get(want.relation)
        if columns is None:
            by_relation[want.relation] = ["missing (no table or view)"]
            continue
        if by_relation.get(want.relation) == ["missing (no table or view)"]:
            continue
        have = columns.get(want.column)
        if have is None:
            by_relation.setdefault(want.relation, []).append(f"lacks {want.column} ({want.wanted})")
        elif have not in want.types:
            note = f"{want.column} is {have}, expected {want.wanted}"
            by_relation.setdefault(want.relation, []).append(note)
    return [f"{schema}.{name}: {'; '.join(notes)}" for name, notes in by_relation.items()]


async def read_columns(conn: AsyncConnection, schema: str) -> dict[str, dict[str, str]]:
    """The columns of every table and view in ``schema``, with their catalog types."""
    stmt = text(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = :schema"
    )
    found: dict[str, dict[str, str]] = {}
    for relation, column, data_type in await conn.execute(stmt, {"schema": schema}):
        found.setdefault(relation, {})[column] = data_type
    return found


async def host_problems(conn: AsyncConnection, tables: Sequence[Table] | None = None) -> list[str]:
    """The host relations' problems as ``notifier check`` names them (PostgreSQL)."""
    schema = host_schema(conn) or "public"
    return problems(schema, expected_columns(tables), await read_columns(conn, schema))


async def privilege_problems(
    conn: AsyncConnection, *, task_jobs: bool = True
) -> tuple[list[str], list[str]]:
    """(failures, warnings): SELECT on every host relation is needed, and the worker's schema
    owned by this role when it is a schema of its own (beside the host's, CREATE in it);
    UPDATE/INSERT on the task relations only while a task job runs (``task_jobs``)."""
    host, own = host_schema(conn) or "public", own_schema(conn) or "public"
    failures, warnings = [], []
    for table in host_tables():
        if not await _may(conn, f'"{host}".{table.name}', "SELECT"):
            failures.append(f"no SELECT on {host}.{table.name}")
        for action in _WRITES.get(table.name, ()) if task_jobs else ():
            if not await _may(conn, f'"{host}".{table.name}', action):
                warnings.append(f"no {action} on {host}.{table.name}: the task jobs need it")
    if own != host and not await conn.scalar(text(_OWNS), {"s": own}):
        failures.append(f"this role does not own schema {own} (NOTIFIER_SCHEMA)")
    elif own == host and not await conn.scalar(text(_CREATES), {"s": own}):
        failures.append(f"this role may not create tables in schema {own}")
    return failures, warnings


_OWNS = "SELECT pg_get_userbyid(nspowner) = current_user FROM pg_namespace WHERE nspname = :s"
_CREATES = "SELECT has_schema_privilege(:s, 'CREATE')"


async def _may(conn: AsyncConnection, relation: str, action: str) -> bool:
    """Whether the current role may ``action`` on ``relation`` (False when it does not exist)."""
    stmt = text(
        "SELECT CASE WHEN to_regclass(:r) IS NULL THEN false ELSE has_table_privilege(:r, :a) END"
    )
    return bool(await conn.scalar(stmt, {"r": relation, "a": action}))
