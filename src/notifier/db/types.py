"""Column types that behave the same on PostgreSQL and SQLite, and never fail to decode.

PostgreSQL stores instants from 4713 BC to 294276 AD and the time ``24:00``; Python's
``datetime`` holds years 1 to 9999 and times below 24:00, and asyncpg raises while decoding
anything else, which failed a whole batch's query for one host row with a sentinel date.
These types read such values held at the edge Python can hold (``column_expression``, so
every SELECT of the column does it; filters still compare the stored value, so indexes hold).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import JSON, DateTime, Time
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class _Held(FunctionElement[Any]):
    """A column read through a guard; keeps the column's own type for its result processing."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], type_: Any) -> None:
        super().__init__(column)
        self.type = type_


class held_instant(_Held):
    """An instant outside Python's calendar read as ``-infinity`` or ``infinity``.

    asyncpg reads those as ``datetime.min`` and ``datetime.max``, which ``UtcDateTime`` makes
    aware: the row is then planned like any other and its content shown in UTC. The two
    edges themselves are held too, because asyncpg writes ``datetime.min`` and ``max`` back as
    ``∓infinity``: whatever is read here is written back as the same value, so a slot key
    made from it matches ``held_instant`` of its column in SQL.
    """

    name = "held_instant"
    inherit_cache = True


class held_wall_time(_Held):
    """``24:00`` (PostgreSQL allows it) read as the day's last microsecond."""

    name = "held_wall_time"
    inherit_cache = True


class json_text(_Held):
    """A JSON value read as its text, parsed by ``HostJson`` where a failure costs one row."""

    name = "json_text"
    inherit_cache = True


@compiles(held_instant)
@compiles(held_wall_time)
@compiles(json_text)
def _plain(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite stores text that Python parses whatever it holds: nothing to hold back."""
    return compiler.process(element.clauses, **kw)


@compiles(held_instant, "postgresql")
def _held_instant_pg(element: held_instant, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return (
        f"CASE WHEN {value} <= '0001-01-01 00:00:00+00' THEN '-infinity'::timestamptz"
        f" WHEN {value} >= '9999-12-31 23:59:59.999999+00' THEN 'infinity'::timestamptz"
        f" ELSE {value} END"
    )


@compiles(held_wall_time, "postgresql")
def _held_wall_time_pg(element: held_wall_time, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"LEAST({value}, '23:59:59.999999'::time)"


@compiles(json_text, "postgresql")
def _json_text_pg(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS text)"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamptz that always comes back timezone-aware in UTC, within Python's calendar.

    SQLite stores naive strings; without this, comparisons between aware and naive instants
    would raise in the embedded mode while passing on PostgreSQL. asyncpg reads ``±infinity``
    as naive ``datetime.min``/``max``: made aware here too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def column_expression(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return held_instant(column, type_=self)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a timestamptz column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if instant.tzinfo is None:
            return instant.replace(tzinfo=UTC)
        return instant.astimezone(UTC)


class WallTime(TypeDecorator[time]):
    """A ``time`` column (a local wall-clock time) that always decodes."""

    impl = Time
    cache_ok = True

    def column_expression(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return held_wall_time(column, type_=self)


class UnreadableJson:
    """A host JSON value Python cannot parse: 5,000-digit numbers, arrays nested 2,000 deep.

    PostgreSQL stores them; ``json.loads`` raises (``ValueError``, ``RecursionError``). The
    value stands in for it so the row's own rules refuse it (it is no list, no number).
    """

    def __repr__(self) -> str:
        return "UnreadableJson()"


UNREADABLE = UnreadableJson()


class HostJson(TypeDecorator[Any]):
    """A ``json`` column of a host table, parsed here instead of in the driver.

    asyncpg parses ``json`` while fetching, so one unparsable value failed the whole batch's
    query, before any per-row guard; read as text and parsed per value, it costs its row.
    """

    impl = JSON
    cache_ok = True

    def column_expression(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return json_text(column, type_=self)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "postgresql" or not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return UNREADABLE
