"""Every table of contract sections 1 and 2, and the indexes each tick filters on.

Sections 1 tables are written by the host application; we only read them (and update the
few task columns the contract lets us write). Names here are fixed by the contract.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    func,
    text,
)

from notifier.db.types import HostJson, UtcDateTime, WallTime

# The schema of the host's tables (contract sections 1 and 12): a placeholder that each engine
# maps to ``HOST_SCHEMA`` (``db.engine.schema_map``), as it maps the worker's own tables (no
# schema here) to ``NOTIFIER_SCHEMA``. Every statement SQLAlchemy renders names its schema.
HOST = "host"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[object]:
    return Column("id", Uuid, primary_key=True)


def _partial(where: str) -> dict[str, Any]:
    """The same partial-index predicate for both dialects we run on."""
    return {"postgresql_where": text(where), "sqlite_where": text(where)}


workspaces = Table(
    "workspaces",
    metadata,
    _id(),
    Column("name", Text),
    Column("timezone", Text, nullable=False, server_default="UTC"),
    schema=HOST,
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("workspace_id", Uuid, ForeignKey(f"{HOST}.workspaces.id"), index=True),
    Column("email", Text),
    Column("full_name", Text),
    Column("timezone", Text, nullable=True),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    schema=HOST,
)

notification_settings = Table(
    "notification_settings",
    metadata,
    Column("user_id", Uuid, ForeignKey(f"{HOST}.users.id"), primary_key=True),
    Column("email_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("digest_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("digest_time", WallTime, nullable=False, server_default="07:00"),
    Column("digest_skip_weekends", Boolean, nullable=False, server_default=text("false")),
    Column("notes_reminder_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("notes_reminder_time", WallTime, nullable=False, server_default="18:00"),
    Column("appointment_reminders_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("appointment_reminder_minutes", HostJson, nullable=True, server_default="[60]"),
    Column("task_reminders_enabled", Boolean, nullable=False, server_default=text("true")),
    # Sections 9 and 10 (migration 0005).
    Column("webhook_url", Text, nullable=True),
    Column("quiet_hours_start", WallTime, nullable=True),
    Column("quiet_hours_end", WallTime, nullable=True),
    Column("digest_days", HostJson, nullable=True),
    Column("weekly_report_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("weekly_report_day", Integer, nullable=False, server_default="1"),
    Column("weekly_report_time", WallTime, nullable=False, server_default="08:00"),
    schema=HOST,
)

clients = Table(
    "clients",
    metadata,
    _id(),
    Column("workspace_id", Uuid, ForeignKey(f"{HOST}.workspaces.id"), index=True),
    Column("full_name", Text),
    schema=HOST,
)

appointments = Table(
    "appointments",
    metadata,
    _id(),
    Column("workspace_id", Uuid, ForeignKey(f"{HOST}.workspaces.id")),
    Column("user_id", Uuid, ForeignKey(f"{HOST}.users.id")),
    Column("client_id", Uuid, ForeignKey(f"{HOST}.clients.id"), nullable=True),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime),
    Column("location", Text, nullable=True),
    Column("service_name", Text, nullable=True),
    Column("status", Text, nullable=False, server_default="scheduled"),
    Index("ix_appointments_scheduled_starts_at", "starts_at", **_partial("status = 'scheduled'")),
    Index("ix_appointments_user_id_starts_at", "user_id", "starts_at"),
    schema=HOST,
)

sessions = Table(
    "sessions",
    metadata,
    _id(),
    Column("workspace_id", Uuid, ForeignKey(f"{HOST}.workspaces.id")),
    Column("user_id", Uuid, ForeignKey(f"{HOST}.users.id")),
    Column("appointment_id", Uuid, ForeignKey(f"{HOST}.appointments.id"), nullable=True),
    Column("is_draft", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", UtcDateTime),
    Index("ix_sessions_draft_user_id", "user_id", **_partial("is_draft")),
    schema=HOST,
)

tasks = Table(
    "tasks",
    metadata,
    _id(),
    Column("workspace_id", Uuid, ForeignKey(f"{HOST}.workspaces.id")),
    Column("user_id", Uuid, ForeignKey(f"{HOST}.users.id")),
    Column("title", Text),
    Column("description", Text, nullable=True),
    Column("priority", Text, nullable=True),
    Column("tags", HostJson, server_default="[]"),
    Column("due_date", UtcDateTime, nullable=True),
    Column("completed", Boolean, nullable=False, server_default=text("false")),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("status", Text, nullable=False, server_default="open"),
    Column("is_recurring", Boolean, nullable=False, server_default=text("false")),
    Column("recurrence_type", Text, nullable=True),
    Column("recurrence_interval", Integer, nullable=False, server_default="1"),
    Column("recurrence_rule", Text, nullable=True),
    Column("recurrence_end", UtcDateTime, nullable=True),
    Column("parent_task_id", Uuid, nullable=True),
    Column("last_processed_at", UtcDateTime, nullable=True),
    Column("deleted_at", UtcDateTime, nullable=True),
    Index(
        "ix_tasks_open_due_date",
        "due_date",
        **_partial("completed = false AND deleted_at IS NULL"),
    ),
    # The overdue scanner's candidates (migration 0003); its query spells the predicate alike.
    Index(
        "ix_tasks_open_not_overdue_due_date",
        "due_date",
        **_partial("completed = false AND deleted_at IS NULL AND status <> 'overdue'"),
    ),
    # The summary emails' per-user lists (migration 0006): open tasks by due date, and
    # completed ones by completion, each user's own range.
    Index(
        "ix_tasks_user_id_due_date_open",
        "user_id",
        "due_date",
        **_partial("completed = false AND deleted_at IS NULL"),
    ),
    Index(
        "ix_tasks_user_id_completed_at",
        "user_id",
        "completed_at",
        **_partial("completed AND deleted_at IS NULL"),
    ),
    Index(
        "ix_tasks_recurring_unprocessed",
        "completed_at",
        **_partial("is_recurring AND completed AND last_processed_at IS NULL"),
    ),
    schema=HOST,
)

task_reminders = Table(
    "task_reminders",
    metadata,
    _id(),
    Column("task_id", Uuid, ForeignKey(f"{HOST}.tasks.id")),
    Column("user_id", Uuid, ForeignKey(f"{HOST}.users.id")),
    Column("remind_at", UtcDateTime, nullable=False),
    Column("channel", Text, nullable=False, server_default="email"),
    Column("sent", Boolean, nullable=False, server_default=text("false")),
    Column("sent_at", UtcDateTime, nullable=True),
    Index("ix_task_reminders_unsent_remind_at", "remind_at", **_partial("sent = false")),
    schema=HOST,
)

reminders_sent = Table(
    "reminders_sent",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("entity_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("slot", UtcDateTime, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("message_id", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("channel", Text, nullable=False, server_default="email"),
    # The end of the quiet period that holds this pending slot (contract section 10; migration
    # 0008): its new due instant, and what finds it again once its own window has passed.
    Column("held_until", UtcDateTime, nullable=True),
    UniqueConstraint(
        "kind", "entity_id", "user_id", "slot", "channel", name="uq_reminders_sent_slot_channel"
    ),
    Index(
        "ix_reminders_sent_held",
        "kind",
        "held_until",
        **_partial("status = 'pending' AND held_until IS NOT NULL"),
    ),
    Index("ix_reminders_sent_pending_lease", "lease_until", **_partial("status = 'pending'")),
    Index("ix_reminders_sent_created_at", "created_at"),
    # The console's deliveries search (migration 0007): by user, and the rows an operator
    # looks for (failed, skipped), newest first; other filters use the indexes above.
    Index("ix_reminders_sent_user_id_created_at", "user_id", "created_at", "id"),
    Index(
        "ix_reminders_sent_unsent_created_at",
        "status",
        "created_at",
        "id",
        **_partial("status IN ('failed', 'skipped')"),
    ),
)

# Section 9: whether a kind goes to a user on a channel (absent: DEFAULT_CHANNELS decides).
notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False, server_default=func.now()),
)

# Section 9: the in-app feed; inserted with the slot's ``sent`` mark, read by the host.
in_app_notifications = Table(
    "in_app_notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=True),
    Column("user_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("entity_id", Uuid, nullable=False),
    Column("slot", UtcDateTime, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("url", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    UniqueConstraint("kind", "entity_id", "user_id", "slot", name="uq_in_app_notifications_slot"),
    Index("ix_in_app_notifications_user_id_created_at", "user_id", "created_at"),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("job_name", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("scheduled_for", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("status", Text, nullable=False),
    Column("selected", Integer, nullable=False, server_default="0"),
    Column("sent", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    Index("ix_job_runs_job_name_started_at", "job_name", "started_at"),
    # Closing a job's abandoned rows reads only those still running (migration 0004).
    Index("ix_job_runs_running", "job_name", "started_at", **_partial("status = 'running'")),
)

# Worker-owned, kept current by triggers (migrations 0002, 0006): each user's effective zone
# next to the digest, notes-reminder and weekly-report times and, per kind, the next instant
# the user may be due (0010), so a tick finds due users through an index on that instant. The
# partial-index predicates are repeated verbatim in the tick's query.
# The copy's "not computed yet" instant (``rules.local_time_slots.NOT_COMPUTED``) as SQL.
NOT_COMPUTED_SQL = text("'1970-01-01 00:00:00+00'")
DIGEST_DUE_COLUMNS = ("digest_enabled", "is_active", "email_enabled")
NOTES_DUE_COLUMNS = ("notes_reminder_enabled", "is_active", "email_enabled")
WEEKLY_DUE_COLUMNS = ("weekly_report_enabled", "is_active", "email_enabled")
DIGEST_DUE = " AND ".join(DIGEST_DUE_COLUMNS)
NOTES_DUE = " AND ".join(NOTES_DUE_COLUMNS)
WEEKLY_DUE = " AND ".join(WEEKLY_DUE_COLUMNS)

local_time_schedules = Table(
    "local_time_schedules",
    metadata,
    Column("user_id", Uuid, ForeignKey(f"{HOST}.users.id", ondelete="CASCADE"), primary_key=True),
    Column("zone", Text, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("email_enabled", Boolean, nullable=False),
    Column("digest_enabled", Boolean, nullable=False),
    Column("digest_time", Time, nullable=False),
    Column("digest_skip_weekends", Boolean, nullable=False),
    Column("notes_reminder_enabled", Boolean, nullable=False),
    Column("notes_reminder_time", Time, nullable=False),
    Column("weekly_report_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("weekly_report_day", Integer, nullable=False, server_default="1"),
    Column("weekly_report_time", Time, nullable=False, server_default="08:00"),
    # ``digest_days`` is set: the digest's weekdays come from it (migration 0006).
    Column("digest_days_set", Boolean, nullable=False, server_default=text("false")),
    # Per kind, the first instant the user may be owed a notification (``services.next_send``,
    # migration 0010); ``1970-01-01``: not computed yet (a new or changed schedule).
    Column("digest_next", UtcDateTime, nullable=False, server_default=NOT_COMPUTED_SQL),
    Column("notes_reminder_next", UtcDateTime, nullable=False, server_default=NOT_COMPUTED_SQL),
    Column("weekly_report_next", UtcDateTime, nullable=False, server_default=NOT_COMPUTED_SQL),
    # A tick reads the rows whose instant has come, index-only on PostgreSQL: with nobody
    # due, one empty probe whatever the number of users and zones.
    Index(
        "ix_local_time_schedules_digest_next",
        "digest_next",
        "user_id",
        postgresql_include=[
            "zone",
            "digest_time",
            "digest_skip_weekends",
            "digest_days_set",
        ],
        **_partial(DIGEST_DUE),
    ),
    Index(
        "ix_local_time_schedules_notes_next",
        "notes_reminder_next",
        "user_id",
        postgresql_include=["zone", "notes_reminder_time"],
        **_partial(NOTES_DUE),
    ),
    Index(
        "ix_local_time_schedules_weekly_next",
        "weekly_report_next",
        "user_id",
        postgresql_include=["zone", "weekly_report_time", "weekly_report_day"],
        **_partial(WEEKLY_DUE),
    ),
)

# Host statements that may have changed a schedule, written by ``notifier host-triggers`` on
# the host's base tables; a tick refreshes the copy once for the rows it sees (migration 0009).
host_changes = Table(
    "host_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", UtcDateTime, nullable=False, server_default=func.now()),
)

# One row: whether ``notifier host-triggers install`` has put its triggers in place.
host_sync = Table(
    "host_sync",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("installed", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint("id = 1", name="ck_host_sync_one_row"),
)

# Every zone ever stored in ``local_time_schedules`` (never pruned: a stale zone only costs an
# empty index probe), so a tick plans ~400 zones instead of reading a million rows.
local_time_zones = Table(
    "local_time_zones",
    metadata,
    Column("zone", Text, primary_key=True),
)

# Per local-time kind, the latest tick instant that moved next-send instants on (migration
# 0010): a tick further back than its catch-up window reads every row instead, since the
# instants no longer tell what it owes (``services.next_send``).
local_time_marks = Table(
    "local_time_marks",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("moved_until", UtcDateTime, nullable=False),
)

# Per windowed kind, the latest window end a tick selected through (migration 0012): a tick
# whose window starts after it follows an outage, and looks back for what quiet hours held
# into its window (``services.tick_marks``).
tick_marks = Table(
    "tick_marks",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("looked_until", UtcDateTime, nullable=False),
)

# One row: the IANA release of the tz database the copy's next-send instants are computed with
# (migration 0011). A worker starting with a newer release puts every row's instants back to
# "not computed" and records its own (``services.tz_reset``); ``reset_finished_at`` stays
# NULL until that reset went over every row, so one stopped half-way is done again.
local_time_tz_database = Table(
    "local_time_tz_database",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("release", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("reset_finished_at", UtcDateTime, nullable=True),
    CheckConstraint("id = 1", name="ck_local_time_tz_database_one_row"),
)
