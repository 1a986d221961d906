"""Quiet-hour holds in the ledger (contract section 10): ``reminders_sent.held_until``.

A notification the recipient policy holds for quiet hours is recorded as its slot's
``pending`` row with ``held_until`` (and its lease) at the period's end, so:

* nothing selects it again before the period ends (the lease is live), and a tick whose
  window holds ``held_until`` finds it again from the ledger, even when the slot's own due
  instant has long left every window (the period's end is its due instant, section 10);
* another channel of the same slot, sent meanwhile (``in_app`` is never held), cannot hide
  it from the task kinds' scans, which read the ledger per channel.

The partial index keeps the per-tick lookup ("held slots of this kind whose hold ends in the
window") to the few rows that are held: it costs nothing on the rows that never are. Built
``CONCURRENTLY`` on PostgreSQL, as migration 0007's; adding a nullable column rewrites nothing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "reminders_sent"
INDEX = "ix_reminders_sent_held"
HELD = "status = 'pending' AND held_until IS NOT NULL"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(INDEX, TABLE, ["kind", "held_until"], sqlite_where=sa.text(HELD))
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")  # an interrupted build
        op.create_index(
            INDEX,
            TABLE,
            ["kind", "held_until"],
            postgresql_where=sa.text(HELD),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_column(TABLE, "held_until")
