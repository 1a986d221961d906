"""Which tz database the copy's next-send instants were computed with.

Migration 0010 stores, per user and local-time kind, the next instant a notification may be
owed, computed with the zone rules of the process's tz database. A release of ``tzdata`` that
changes a zone's rules leaves those instants wrong by the change until each row's next send.
``local_time_tz_database`` holds one row: the IANA release the instants follow and when the
reset to it finished; a worker starting with a newer release puts every row back to "not
computed" and records its own (``services.tz_reset``).

No row is written here: the release that computed the instants already stored is not known
(the migrating process may carry another), so the first worker started after this migration
resets them once; rows still "not computed" (0010 deployed with this) cost nothing. The table
is the worker's own: ``--own-tables-only`` creates it in ``NOTIFIER_SCHEMA`` like any other,
and it touches nothing of the host's.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "local_time_tz_database"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reset_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.CheckConstraint("id = 1", name=op.f(f"ck_{TABLE}_one_row")),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
