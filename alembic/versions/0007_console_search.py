"""Indexes for the operator console's deliveries search (contract section 11).

The console lists ``reminders_sent`` newest first (``created_at``, then ``id``), filtered by
one or more of user, entity, kind, channel and status, a page at a time by keyset. Every
index on this table is paid by the hot path (a claim inserts a row, its ``sent`` mark
updates it, and neither update is HOT), so only two are added, each measured against the
write path (``bench/console_search.py``, report "Operator console"):

* ``(user_id, created_at, id)``: "what did this user get" is the console's first question, and
  a user's rows are scattered over the whole table;
* ``(status, created_at, id)`` over ``failed`` and ``skipped`` rows only: the rows an operator
  looks for; a claim (``pending``) and its ``sent`` mark never touch it.

The other filters are served by indexes the table already has: an entity through the unique
key (``kind = ANY(every ledger kind) AND entity_id = …``: one probe per kind), a kind through
the unique key's leading column or, for a common kind, ``ix_reminders_sent_created_at``
read backwards; ``pending`` through ``ix_reminders_sent_pending_lease``; a channel, and
``sent``, through ``ix_reminders_sent_created_at`` (a first draft of this migration had one
index per filter: 3 to 4 times slower ``sent`` marks on a ten-million-row ledger).

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
FINAL_UNSENT = "status IN ('failed', 'skipped')"
# (name, leading column, predicate or None)
INDEXES = (
    ("ix_reminders_sent_user_id_created_at", "user_id", None),
    ("ix_reminders_sent_unsent_created_at", "status", FINAL_UNSENT),
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
