"""Overdue scanner index: open tasks not yet marked overdue, by due date.

The overdue scanner asks for open tasks past due whose status is not yet ``overdue``.
Through ``ix_tasks_open_due_date`` that scan also reads every open task already marked
overdue (they stay open until somebody completes them, so they pile up); this partial index
holds only the tasks the scanner can still select, so a tick reads the newly overdue ones.
The scanner's query repeats the predicate with ``'overdue'`` as a literal, so that prepared
(generic) plans can prove it and use the index.

Built ``CONCURRENTLY`` on PostgreSQL, outside the migration's transaction, so upgrading a busy
database never blocks the host application's writes to ``tasks``. If that build is
interrupted PostgreSQL leaves an INVALID index behind: drop it and run the migration again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from notifier.db.migration_scope import host_included

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_tasks_open_not_overdue_due_date"
PREDICATE = "completed = false AND deleted_at IS NULL AND status <> 'overdue'"


def upgrade() -> None:
    if not host_included():
        return  # an index on the host's tasks: the host's to build (runbook)
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(
                NAME,
                "tasks",
                ["due_date"],
                postgresql_where=sa.text(PREDICATE),
                postgresql_concurrently=True,
            )
    else:
        op.create_index(NAME, "tasks", ["due_date"], sqlite_where=sa.text(PREDICATE))


def downgrade() -> None:
    op.drop_index(NAME, table_name="tasks")
