"""Indexes for the operator console's deliveries search (contract section 11).

The console lists ``reminders_sent`` newest first (``created_at``, then ``id``), filtered by
one or more of user, entity, kind, channel and status, a page at a time by keyset. Each
filter alone must answer from an index range in that order, whatever the value's share of
the table (a kind or channel with no rows at all would otherwise scan every row backwards
through ``ix_reminders_sent_created_at``): one ``(column, created_at, id)`` index per filter.
The status index leaves ``sent`` rows out (the usual case, found at once by the
``created_at`` index), so it holds only the rows an operator looks for (failed, skipped,
pending) and costs nothing when a slot is marked ``sent``.

PostgreSQL builds them ``CONCURRENTLY`` (outside the migration's transaction), so upgrading a
busy ledger never blocks the worker's writes; an interrupted build leaves an INVALID index,
which is dropped and built again when the migration runs again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "reminders_sent"
NOT_SENT = "status <> 'sent'"
# (name, leading column, predicate or None)
INDEXES = (
    ("ix_reminders_sent_user_id_created_at", "user_id", None),
    ("ix_reminders_sent_entity_id_created_at", "entity_id", None),
    ("ix_reminders_sent_kind_created_at", "kind", None),
    ("ix_reminders_sent_channel_created_at", "channel", None),
    ("ix_reminders_sent_status_created_at", "status", NOT_SENT),
)


def _where(predicate: str | None, dialect: str) -> dict[str, object]:
    return {f"{dialect}_where": sa.text(predicate)} if predicate else {}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, column, predicate in INDEXES:
            op.create_index(
                name, TABLE, [column, "created_at", "id"], **_where(predicate, "sqlite")
            )
        return
    with op.get_context().autocommit_block():
        for name, column, predicate in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # an interrupted build
            op.create_index(
                name,
                TABLE,
                [column, "created_at", "id"],
                postgresql_concurrently=True,
                **_where(predicate, "postgresql"),
            )


def downgrade() -> None:
    for name, *_ in INDEXES:
        op.drop_index(name, table_name=TABLE)
