"""A batch of ids in a statement, written the way each database handles it best: the
statement's text stays the same whatever the batch's size."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Uuid, any_, bindparam, case, func, literal
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.expression import Grouping


def among(
    column: ColumnElement[uuid.UUID], ids: Sequence[uuid.UUID], dialect_name: str
) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``column = ANY($1)`` with one array parameter.

    An ``IN`` list binds a parameter per id: a batch of 500 made SQLAlchemy expand and
    PostgreSQL parse and plan a 500-parameter statement on every batch. One array keeps
    the statement text, and so its prepared plan, the same for every batch size.
    """
    if dialect_name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(Uuid())))
    return column.in_(ids)


def per_id(
    column: ColumnElement[uuid.UUID],
    values: Mapping[uuid.UUID, Any],
    type_: Any,
    dialect_name: str,
) -> ColumnElement[Any]:
    """The value ``values`` gives the id in ``column`` (NULL for an id it does not name).

    On PostgreSQL an element of one array parameter, at the id's place in another. Written as
    ``CASE column WHEN id THEN value ...`` (SQLite still is: dev mode), each batch size was a
    statement of its own, which SQLAlchemy compiled and cached, asyncpg prepared and kept on
    every connection and PostgreSQL parsed and planned: a worker's memory grew with every
    size met (``python -m bench.memory``, 20,000 ticks: +30% after warm-up).
    """
    if dialect_name == "postgresql":
        ids = bindparam(None, list(values), type_=postgresql.ARRAY(Uuid()))
        found = bindparam(None, list(values.values()), type_=postgresql.ARRAY(type_))
        return Grouping(found)[func.array_position(ids, column)]  # "($1)[i]": PostgreSQL's syntax
    return case({key: literal(value, type_) for key, value in values.items()}, value=column)
