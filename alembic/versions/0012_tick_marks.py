"""Where each windowed kind's ticks have looked: ``tick_marks``.

Contract section 10 counts the end of a quiet period as the due instant of what the period
held, for the catch-up window too. The ledger keeps a hold only where a tick saw the slot in
its own window; after an outage longer than the catch-up window, the slots that fell due in
it were seen by no tick, and the first tick after it must find those a quiet period held
into its window. ``tick_marks`` holds, per kind, the latest window end a tick selected
through, so a tick can tell whether one came before it within its window (nothing to look
for) or not (it looks back over the day before, for users with quiet hours only).

The local-time kinds over the copy need no mark (a row no tick read keeps its past instant,
``services.next_send``); the appointment reminders, and the local-time kinds read straight
from the host's relations (``--own-tables-only``), use it. The worker's own table:
``--own-tables-only`` creates it in ``NOTIFIER_SCHEMA``. No row is written here: a kind
without one looks back once, at its first tick.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 14:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "tick_marks"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("looked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f(f"pk_{TABLE}")),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
