"""``column IN (ids)`` written the way each database handles a batch of ids best."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Uuid, any_, bindparam
from sqlalchemy.dialects import postgresql


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
