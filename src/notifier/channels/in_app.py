"""In-app notifications (contract section 9): a row the host shows in its own UI.

The row is the delivery: it is inserted in the transaction that marks the slot ``sent``, so
it exists exactly once whatever crashes (the insert ignores a row already there for the
slot's unique key). Its id is the ledger's ``message_id``: derived from the slot on the
slot-by-slot path, drawn by the database on the path below. ``NOTIFY notifier_in_app`` with
the user's id runs in the same transaction; PostgreSQL delivers it on commit, so a host
listening can push the row to an open browser at once.

On PostgreSQL a batch's in-app slots skip the ``pending`` claim altogether
(``record_unclaimed``): one statement inserts their ledger rows already ``sent`` and their
in-app rows, in one transaction, and notifies. Nothing leaves the database, so there is no
send to protect with a claim: the unique keys make the pair exist once, whatever runs twice.
A slot whose ledger row already exists (finished, or a claim of the slot-by-slot path) is
left to that path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.channels.base import Delivery, Rendered
from notifier.content.render import Privacy, ShortContent, render_short
from notifier.db.engine import own_schema, qualified
from notifier.db.schema import in_app_notifications
from notifier.db.upsert import insert_ignoring_conflicts
from notifier.delivery.ledger import SlotKey
from notifier.rules.kinds import IN_APP

NOTIFY_CHANNEL = "notifier_in_app"
_ROW_IDS = uuid.UUID("1f6d3f0e-3b8e-4c31-9a55-6b0d5e6a2c11")  # namespace of uuid5 row ids
_UNIQUE = ("kind", "entity_id", "user_id", "slot")
_COLUMNS = {
    "id": "uuid",
    "workspace_id": "uuid",
    "user_id": "uuid",
    "kind": "text",
    "entity_id": "uuid",
    "slot": "timestamptz",
    "title": "text",
    "body": "text",
    "url": "text",
    "created_at": "timestamptz",
}


@cache
def _insert_pg(schema: str | None) -> TextClause:
    """The group's rows as arrays, into the worker's schema."""
    return text(
        f"INSERT INTO {qualified(schema, 'in_app_notifications')} ({', '.join(_COLUMNS)})"
        " SELECT * FROM unnest("
        + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _COLUMNS.items())
        + ") ON CONFLICT (kind, entity_id, user_id, slot) DO NOTHING"
    )


# The ledger rows (``sent``, no claim) and the in-app rows of one group, and the notice, in
# one statement; returns the slots it recorded. Rows are inserted in the unique key's order,
# as ``delivery.ledger.claim`` does, so overlapping groups wait for each other, never deadlock.
_RECORD_UNCLAIMED = """
WITH m AS MATERIALIZED (
    SELECT gen_random_uuid() AS id, u.*
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::timestamptz[],
                $6::text[], $7::text[], $8::text[])
    AS u(workspace_id, user_id, kind, entity_id, slot, title, body, url)
), won AS (
    INSERT INTO {reminders_sent} AS r (id, kind, entity_id, user_id, slot, channel, status,
                                     attempts, created_at, sent_at, message_id)
    SELECT gen_random_uuid(), m.kind, m.entity_id, m.user_id, m.slot, 'in_app', 'sent', 1,
           $9, $9, m.id::text
    FROM m ORDER BY m.kind, m.entity_id, m.user_id, m.slot
    ON CONFLICT (kind, entity_id, user_id, slot, channel) DO NOTHING
    RETURNING r.kind, r.entity_id, r.user_id, r.slot
), written AS (
    INSERT INTO {in_app_notifications} (id, workspace_id, user_id, kind, entity_id, slot, title,
                                      body, url, created_at)
    SELECT m.id, m.workspace_id, m.user_id, m.kind, m.entity_id, m.slot, m.title, m.body,
           m.url, $9
    FROM m JOIN won USING (kind, entity_id, user_id, slot)
    ON CONFLICT (kind, entity_id, user_id, slot) DO NOTHING
    RETURNING user_id
), told AS (
    SELECT count(pg_notify('notifier_in_app', u::text)) AS n
    FROM (SELECT DISTINCT user_id FROM written) AS w(u)
)
SELECT won.kind, won.entity_id, won.user_id, won.slot, told.n FROM won, told
"""


@cache
def _record_unclaimed(schema: str | None) -> str:
    """``_RECORD_UNCLAIMED`` naming the worker's schema."""
    return _RECORD_UNCLAIMED.format(
        reminders_sent=qualified(schema, "reminders_sent"),
        in_app_notifications=qualified(schema, "in_app_notifications"),
    )


_NOTIFY = text(
    f"SELECT pg_notify('{NOTIFY_CHANNEL}', CAST(u AS text))"
    " FROM unnest(CAST(:users AS uuid[])) AS u"
)


class InAppChannel:
    """Renders title, body and link as ``privacy`` (``CONTENT_PRIVACY``) allows; ``record``
    inserts the rows and notifies."""

    name = IN_APP
    in_transaction = True

    def __init__(self, templates: Environment, privacy: Privacy) -> None:
        self._templates = templates
        self._privacy = privacy

    def ident(self, key: SlotKey) -> str:
        """The row's id, the same for every attempt at the slot."""
        return str(uuid.uuid5(_ROW_IDS, f"{key.kind}|{key.entity_id}|{key.user_id}|{key.slot}"))

    def render(self, delivery: Delivery, ident: str) -> ShortContent:
        kind = delivery.key.kind
        return render_short(self._templates, kind, delivery.context, privacy=self._privacy)

    async def transmit(self, delivery: Delivery, rendered: Rendered) -> None:
        return None  # the row is written by ``record``, with the ``sent`` mark

    async def record(self, conn: AsyncConnection, sent: Sequence[Rendered], now: datetime) -> None:
        if not sent:
            return
        rows = [_row(item, now) for item in sent]
        if conn.dialect.name != "postgresql":
            stmt = insert_ignoring_conflicts(conn.dialect.name, in_app_notifications, _UNIQUE)
            await conn.execute(stmt, rows)
            return
        # One statement for the group: an executemany of 10,000 rows cost most of a tick.
        await conn.execute(
            _insert_pg(own_schema(conn)), {name: [r[name] for r in rows] for name in _COLUMNS}
        )
        users = sorted({item.delivery.key.user_id for item in sent})
        await conn.execute(_NOTIFY, {"users": users})

    async def record_unclaimed(
        self, conn: AsyncConnection, group: Sequence[Rendered], now: datetime
    ) -> set[SlotKey] | None:
        """Records ``sent`` and writes the in-app rows of slots nobody has a ledger row for;
        returns those slots (None where the database cannot: SQLite takes the usual path).

        The rows' ids are drawn by the database (the ledger's ``message_id`` names each): no
        id is needed before the statement, and the unique keys, not the ids, keep each slot's
        row single. ``ident`` is not read."""
        if conn.dialect.name != "postgresql":
            return None
        if not group:
            return set()
        columns: list[list[Any]] = [[] for _ in range(8)]
        for item in group:
            key, content = item.delivery.key, item.payload
            values = (
                item.delivery.workspace_id,
                key.user_id,
                key.kind,
                key.entity_id,
                key.slot,
                content.title,
                content.body,
                content.url,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        result = await conn.exec_driver_sql(_record_unclaimed(own_schema(conn)), (*columns, now))
        rows: list[Any] = list(result)
        return {SlotKey(row[0], row[1], row[2], row[3], IN_APP) for row in rows}


def _row(item: Rendered, now: datetime) -> dict[str, Any]:
    key, content = item.delivery.key, item.payload
    return {
        "id": uuid.UUID(item.ident),
        "workspace_id": item.delivery.workspace_id,
        "user_id": key.user_id,
        "kind": key.kind,
        "entity_id": key.entity_id,
        "slot": key.slot,
        "title": content.title,
        "body": content.body,
        "url": content.url,
        "created_at": now,
    }
