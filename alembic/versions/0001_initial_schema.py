"""Initial schema: every table of contract sections 1 and 2, with the indexes ticks use.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 18:14:27.480038
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from notifier.db.migration_scope import host_included

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "job_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_name", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("selected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index(
        "ix_job_runs_job_name_started_at", "job_runs", ["job_name", "started_at"], unique=False
    )
    op.create_table(
        "reminders_sent",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders_sent")),
        sa.UniqueConstraint("kind", "entity_id", "user_id", "slot", name="uq_reminders_sent_slot"),
    )
    op.create_index("ix_reminders_sent_created_at", "reminders_sent", ["created_at"], unique=False)
    op.create_index(
        "ix_reminders_sent_pending_lease",
        "reminders_sent",
        ["lease_until"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    if host_included():
        _host_tables()


def _host_tables() -> None:
    """The tables of contract section 1 (the host's)."""
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default="UTC", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_clients_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_index(op.f("ix_clients_workspace_id"), "clients", ["workspace_id"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_users_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_workspace_id"), "users", ["workspace_id"], unique=False)
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("service_name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="scheduled", nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_appointments_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_appointments_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_appointments_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index(
        "ix_appointments_scheduled_starts_at",
        "appointments",
        ["starts_at"],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
        sqlite_where=sa.text("status = 'scheduled'"),
    )
    op.create_index(
        "ix_appointments_user_id_starts_at", "appointments", ["user_id", "starts_at"], unique=False
    )
    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("digest_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("digest_time", sa.Time(), server_default="07:00", nullable=False),
        sa.Column(
            "digest_skip_weekends", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column(
            "notes_reminder_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("notes_reminder_time", sa.Time(), server_default="18:00", nullable=False),
        sa.Column(
            "appointment_reminders_enabled",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
        ),
        sa.Column("appointment_reminder_minutes", sa.JSON(), server_default="[60]", nullable=True),
        sa.Column(
            "task_reminders_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_settings_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_settings")),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("priority", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), server_default="[]", nullable=True),
        sa.Column("due_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("is_recurring", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("recurrence_type", sa.Text(), nullable=True),
        sa.Column("recurrence_interval", sa.Integer(), server_default="1", nullable=False),
        sa.Column("recurrence_rule", sa.Text(), nullable=True),
        sa.Column("recurrence_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parent_task_id", sa.Uuid(), nullable=True),
        sa.Column("last_processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tasks_user_id_users")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_tasks_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(
        "ix_tasks_open_due_date",
        "tasks",
        ["due_date"],
        unique=False,
        postgresql_where=sa.text("completed = false AND deleted_at IS NULL"),
        sqlite_where=sa.text("completed = false AND deleted_at IS NULL"),
    )
    op.create_index(
        "ix_tasks_recurring_unprocessed",
        "tasks",
        ["completed_at"],
        unique=False,
        postgresql_where=sa.text("is_recurring AND completed AND last_processed_at IS NULL"),
        sqlite_where=sa.text("is_recurring AND completed AND last_processed_at IS NULL"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("is_draft", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_sessions_appointment_id_appointments"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_sessions_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(
        "ix_sessions_draft_user_id",
        "sessions",
        ["user_id"],
        unique=False,
        postgresql_where=sa.text("is_draft"),
        sqlite_where=sa.text("is_draft"),
    )
    op.create_table(
        "task_reminders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.Text(), server_default="email", nullable=False),
        sa.Column("sent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_reminders_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_task_reminders_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_reminders")),
    )
    op.create_index(
        "ix_task_reminders_unsent_remind_at",
        "task_reminders",
        ["remind_at"],
        unique=False,
        postgresql_where=sa.text("sent = false"),
        sqlite_where=sa.text("sent = false"),
    )


def downgrade() -> None:

    op.drop_index(
        "ix_task_reminders_unsent_remind_at",
        table_name="task_reminders",
        postgresql_where=sa.text("sent = false"),
        sqlite_where=sa.text("sent = false"),
    )
    op.drop_table("task_reminders")
    op.drop_index(
        "ix_sessions_draft_user_id",
        table_name="sessions",
        postgresql_where=sa.text("is_draft"),
        sqlite_where=sa.text("is_draft"),
    )
    op.drop_table("sessions")
    op.drop_index(
        "ix_tasks_recurring_unprocessed",
        table_name="tasks",
        postgresql_where=sa.text("is_recurring AND completed AND last_processed_at IS NULL"),
        sqlite_where=sa.text("is_recurring AND completed AND last_processed_at IS NULL"),
    )
    op.drop_index(
        "ix_tasks_open_due_date",
        table_name="tasks",
        postgresql_where=sa.text("completed = false AND deleted_at IS NULL"),
        sqlite_where=sa.text("completed = false AND deleted_at IS NULL"),
    )
    op.drop_table("tasks")
    op.drop_table("notification_settings")
    op.drop_index("ix_appointments_user_id_starts_at", table_name="appointments")
    op.drop_index(
        "ix_appointments_scheduled_starts_at",
        table_name="appointments",
        postgresql_where=sa.text("status = 'scheduled'"),
        sqlite_where=sa.text("status = 'scheduled'"),
    )
    op.drop_table("appointments")
    op.drop_index(op.f("ix_users_workspace_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_clients_workspace_id"), table_name="clients")
    op.drop_table("clients")
    op.drop_table("workspaces")
    op.drop_index(
        "ix_reminders_sent_pending_lease",
        table_name="reminders_sent",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_reminders_sent_created_at", table_name="reminders_sent")
    op.drop_table("reminders_sent")
    op.drop_index("ix_job_runs_job_name_started_at", table_name="job_runs")
    op.drop_table("job_runs")
