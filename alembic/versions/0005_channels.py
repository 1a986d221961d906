"""Channels (contract section 9): a channel on every ledger row, preferences, in-app rows,
and the settings columns of sections 9 and 10.

* ``reminders_sent.channel`` (default ``'email'``: every existing row was an email) joins the
  unique key, so each channel of a slot is claimed and recorded on its own row. The old key
  is dropped after the new one exists.
* ``notification_preferences`` (user, kind, channel → enabled) and ``in_app_notifications``
  (one row per in-app slot, unique like the ledger) are the worker's tables.
* ``notification_settings`` gains ``webhook_url``, quiet hours, ``digest_days`` and the
  weekly report's switch, day and time, all nullable or defaulted, so host rows stay valid.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from notifier.db.migration_scope import host_included

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = "uq_reminders_sent_slot"
NEW_KEY = "uq_reminders_sent_slot_channel"


def _settings_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("quiet_hours_start", sa.Time(), nullable=True),
        sa.Column("quiet_hours_end", sa.Time(), nullable=True),
        sa.Column("digest_days", sa.JSON(), nullable=True),
        sa.Column("weekly_report_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("weekly_report_day", sa.Integer(), server_default="1", nullable=False),
        sa.Column("weekly_report_time", sa.Time(), server_default="08:00", nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("reminders_sent") as batch:
        batch.add_column(sa.Column("channel", sa.Text(), server_default="email", nullable=False))
        batch.create_unique_constraint(NEW_KEY, ["kind", "entity_id", "user_id", "slot", "channel"])
        batch.drop_constraint(OLD_KEY, type_="unique")
    # Plain ADD COLUMN (SQLite too): a batch copy of this table would break the triggers
    # migration 0002 keeps on it.
    if host_included():
        for column in _settings_columns():
            op.add_column("notification_settings", column)
    _preferences()
    _in_app()


def _preferences() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "kind", "channel", name=op.f("pk_notification_preferences")
        ),
    )


def _in_app() -> None:
    op.create_table(
        "in_app_notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_in_app_notifications")),
        sa.UniqueConstraint(
            "kind", "entity_id", "user_id", "slot", name="uq_in_app_notifications_slot"
        ),
    )
    op.create_index(
        "ix_in_app_notifications_user_id_created_at",
        "in_app_notifications",
        ["user_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_in_app_notifications_user_id_created_at", "in_app_notifications")
    op.drop_table("in_app_notifications")
    op.drop_table("notification_preferences")
    for column in reversed(_settings_columns()):
        op.drop_column("notification_settings", column.name)
    with op.batch_alter_table("reminders_sent") as batch:
        batch.create_unique_constraint(OLD_KEY, ["kind", "entity_id", "user_id", "slot"])
        batch.drop_constraint(NEW_KEY, type_="unique")
        batch.drop_column("channel")
