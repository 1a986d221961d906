"""Following a host whose tables are views, at scale (contract section 12).

Under ``--own-tables-only`` no trigger keeps ``local_time_schedules``: the local-time kinds then
read every user through the host's views each tick (``bench/host_views.py``: ~36 ms at 10,000
users, ~3.5 s at 1,000,000). For large hosts, ``notifier host-triggers install`` (an explicit
command, run by a role that owns the host's base tables) puts a statement-level trigger on
each base table behind the views of ``users``, ``workspaces`` and ``notification_settings``;
the trigger adds a row to ``host_changes``. A tick that finds rows there refreshes the copy
from the views once, in one snapshot with the rows it saw, and deletes those rows; a tick that
finds none uses the copy's index as with the worker's own triggers.

* ``host_changes``: one row per host statement that may have changed a user's schedule. A row
  commits with the change that wrote it, so a refresh that sees the row sees the change; a
  row not yet visible is seen by a later tick. Inserts never wait on each other (no counter
  row every host write would lock).
* ``host_sync``: one row, ``installed`` while the triggers are in place.
* ``notifier_host_changed()``: the trigger function, ``SECURITY DEFINER`` so the host's roles
  need no grant on the worker's schema.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _own() -> str:
    schemas = context.config.attributes.get("schemas")
    return getattr(schemas, "own", "public")


def upgrade() -> None:
    op.create_table(
        "host_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_changes")),
    )
    op.create_table(
        "host_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_sync")),
        sa.CheckConstraint("id = 1", name=op.f("ck_host_sync_one_row")),
    )
    op.execute("INSERT INTO host_sync (id, installed) VALUES (1, false)")
    if op.get_bind().dialect.name != "postgresql":
        return
    own = _own()
    op.execute(f"""
CREATE OR REPLACE FUNCTION "{own}".notifier_host_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO "{own}".host_changes DEFAULT VALUES;
    RETURN NULL;
END $$
""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'DROP FUNCTION IF EXISTS "{_own()}".notifier_host_changed() CASCADE')
    op.drop_table("host_sync")
    op.drop_table("host_changes")
