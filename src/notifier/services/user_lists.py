"""Per-user lists for the summary emails (digest, weekly report), capped and counted in SQL.

Each user of a batch asks for rows in a span of their own (their local date, the 7 local days
ahead, ...): the spans go into the statement as arrays indexed by the user's place
(``db.id_lists.per_id``), so one statement, of the same text for every batch, answers the
whole batch exactly. A window function numbers each user's rows
and counts them, and only the first ``cap`` come back with the total: a user with 5,000
overdue tasks costs ``cap`` rows, and the email says how many more there are.

As in the digest's appointments before it, a row of another workspace than the user's own
is not listed (a user moved to another practice keeps its rows out of their mail).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Uuid, and_, func, null, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.db.id_lists import among, per_id
from notifier.db.types import UtcDateTime


@dataclass(frozen=True)
class Span:
    """One user's instants ``lo <= t < hi`` (no lower bound when ``lo`` is None), and the
    workspace whose rows (or rows of none) are listed."""

    lo: datetime | None
    hi: datetime
    workspace_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Capped:
    """The first rows of one user's list, and how many there are in all."""

    rows: Sequence[Mapping[str, Any]] = ()
    total: int = 0


@dataclass(frozen=True)
class ListQuery:
    """Where a list's rows come from: the source, its user and time columns, the columns
    shown, the conditions every row meets, and the order (after the time column)."""

    source: FromClause
    user_column: ColumnElement[Any]
    at_column: ColumnElement[Any]
    columns: Sequence[ColumnElement[Any]]
    where: Sequence[ColumnElement[bool]]
    tie_break: ColumnElement[Any]
    workspace_column: ColumnElement[Any]


def _in_span(
    q: ListQuery, spans: Mapping[uuid.UUID, Span], dialect: str
) -> list[ColumnElement[bool]]:
    def per_user(values: Mapping[uuid.UUID, object], type_: Any) -> ColumnElement[Any]:
        return per_id(q.user_column, values, type_, dialect)

    highs = {user_id: span.hi for user_id, span in spans.items()}
    conditions = [q.at_column < per_user(highs, UtcDateTime())]
    lows = {user_id: span.lo for user_id, span in spans.items() if span.lo is not None}
    if lows:
        conditions.append(q.at_column >= per_user(lows, UtcDateTime()))
    homes = {user_id: span.workspace_id for user_id, span in spans.items() if span.workspace_id}
    own = per_user(homes, Uuid()) if homes else null()
    conditions.append(or_(q.workspace_column.is_(None), q.workspace_column == own))
    return conditions


async def capped_lists(
    conn: AsyncConnection, q: ListQuery, spans: Mapping[uuid.UUID, Span], cap: int
) -> dict[uuid.UUID, Capped]:
    """Each user's rows of ``q`` inside their span, oldest first, at most ``cap`` of them."""
    if not spans:
        return {}
    order = (q.at_column, q.tie_break)
    ranked = (
        select(
            *q.columns,
            q.user_column.label("list_user_id"),
            func.row_number().over(partition_by=q.user_column, order_by=order).label("rank"),
            func.count().over(partition_by=q.user_column).label("total"),
        )
        .select_from(q.source)
        .where(among(q.user_column, list(spans), conn.dialect.name))
        .where(and_(*q.where, *_in_span(q, spans, conn.dialect.name)))
        .subquery()
    )
    stmt = select(ranked).where(ranked.c.rank <= cap).order_by(ranked.c.list_user_id, "rank")
    found: dict[uuid.UUID, list[Any]] = defaultdict(list)
    totals: dict[uuid.UUID, int] = {}
    for row in (await conn.execute(stmt)).mappings():
        found[row["list_user_id"]].append(row)
        totals[row["list_user_id"]] = int(row["total"])
    return {user_id: Capped(found[user_id], totals.get(user_id, 0)) for user_id in spans}


async def counts(
    conn: AsyncConnection, q: ListQuery, spans: Mapping[uuid.UUID, Span]
) -> dict[uuid.UUID, int]:
    """How many rows of ``q`` each user has inside their span."""
    if not spans:
        return {}
    stmt = (
        select(q.user_column, func.count())
        .select_from(q.source)
        .where(among(q.user_column, list(spans), conn.dialect.name))
        .where(and_(*q.where, *_in_span(q, spans, conn.dialect.name)))
        .group_by(q.user_column)
    )
    found = {user_id: int(n) for user_id, n in (await conn.execute(stmt)).all()}
    return {user_id: found.get(user_id, 0) for user_id in spans}
