"""The weekly report's schedule in ``local_time_schedules`` (contract section 3), and whether
``digest_days`` is set (section 10).

``weekly_report`` is due at a local time, like the digest, so its users are found the same
way: the worker-owned copy gains the report's switch, weekday and time, the sync (PostgreSQL
function, SQLite triggers) copies them from ``notification_settings``, and a partial index on
``(zone, weekly_report_time)`` over users who receive it serves the tick (covering, with the
weekday, on PostgreSQL, built ``CONCURRENTLY`` as migration 0004's).

The weekly report and the digest's task summary list each user's tasks by due date and by
completion: two partial indexes on ``tasks (user_id, due_date)`` (open tasks) and
``(user_id, completed_at)`` (completed ones) make each list an index range per user instead of
a scan of every user's tasks in the date range.

``digest_days_set`` (``digest_days`` neither SQL NULL nor JSON ``null``; SQLite compares the
text, as a malformed value must not fail the host's write) tells the digest's selection that a user's digest weekdays come from
``digest_days`` (a JSON array the fresh row's check reads), so ``digest_skip_weekends`` must
not leave them out: the selection stays a superset of who is due.

Only users whose settings differ from the new columns' defaults are copied again: everybody
else's copied row already holds them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from notifier.db.migration_scope import host_included

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_local_time_schedules_weekly_due"
# (name, columns, predicate) on ``tasks``.
TASK_INDEXES = (
    (
        "ix_tasks_user_id_due_date_open",
        ["user_id", "due_date"],
        "completed = false AND deleted_at IS NULL",
    ),
    (
        "ix_tasks_user_id_completed_at",
        ["user_id", "completed_at"],
        "completed AND deleted_at IS NULL",
    ),
)
WEEKLY_DUE = "weekly_report_enabled AND is_active AND email_enabled"
OLD_COLUMNS = (
    "user_id, zone, is_active, email_enabled, digest_enabled, digest_time, "
    "digest_skip_weekends, notes_reminder_enabled, notes_reminder_time"
)
NEW_COLUMNS = (
    OLD_COLUMNS + ", weekly_report_enabled, weekly_report_day, weekly_report_time, digest_days_set"
)
# Settings rows whose weekly report differs from the defaults the new columns start with.
CHANGED = (
    "SELECT user_id FROM notification_settings WHERE weekly_report_enabled "
    "OR weekly_report_day <> 1 OR weekly_report_time <> '08:00' OR digest_days IS NOT NULL"
)


def _pg_source(weekly: bool) -> str:
    extra = (
        """,
           coalesce(n.weekly_report_enabled, false),
           coalesce(n.weekly_report_day, 1),
           coalesce(n.weekly_report_time, time '08:00'),
           coalesce(json_typeof(n.digest_days), 'null') <> 'null'"""
        if weekly
        else ""
    )
    return f"""
    SELECT u.id,
           coalesce(nullif(u.timezone, ''), nullif(w.timezone, ''), 'UTC'),
           coalesce(u.is_active, false),
           coalesce(n.email_enabled, true),
           coalesce(n.digest_enabled, false),
           coalesce(n.digest_time, time '07:00'),
           coalesce(n.digest_skip_weekends, false),
           coalesce(n.notes_reminder_enabled, false),
           coalesce(n.notes_reminder_time, time '18:00'){extra}
    FROM (SELECT DISTINCT unnest(ids) AS id) AS changed_ids
    JOIN users u ON u.id = changed_ids.id
    LEFT JOIN workspaces w ON w.id = u.workspace_id
    LEFT JOIN notification_settings n ON n.user_id = u.id
"""


def _pg_sync_function(columns: str, weekly: bool) -> str:
    updated = [c.strip() for c in columns.split(",")[1:]]
    return f"""
CREATE OR REPLACE FUNCTION notifier_sync_local_time_schedules(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO local_time_schedules AS s ({columns})
    {_pg_source(weekly)}
    ON CONFLICT (user_id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in updated)}
    WHERE ({", ".join(f"s.{c}" for c in updated)})
          IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in updated)});
    INSERT INTO local_time_zones (zone)
    SELECT DISTINCT s.zone FROM unnest(ids) AS changed_ids(id)
    JOIN local_time_schedules s ON s.user_id = changed_ids.id
    ON CONFLICT (zone) DO NOTHING;
END $$
"""


def _sqlite_source(weekly: bool) -> str:
    extra = (
        """,
           coalesce(n.weekly_report_enabled, 0),
           coalesce(n.weekly_report_day, 1),
           coalesce(n.weekly_report_time, '08:00:00.000000'),
           coalesce(trim(n.digest_days), 'null') <> 'null'"""
        if weekly
        else ""
    )
    return f"""
    SELECT u.id,
           coalesce(nullif(u.timezone, ''), nullif(w.timezone, ''), 'UTC'),
           coalesce(u.is_active, 0),
           coalesce(n.email_enabled, 1),
           coalesce(n.digest_enabled, 0),
           coalesce(n.digest_time, '07:00:00.000000'),
           coalesce(n.digest_skip_weekends, 0),
           coalesce(n.notes_reminder_enabled, 0),
           coalesce(n.notes_reminder_time, '18:00:00.000000'){extra}
    FROM users u
    LEFT JOIN workspaces w ON w.id = u.workspace_id
    LEFT JOIN notification_settings n ON n.user_id = u.id
"""


def _sqlite_sync(where: str, columns: str, weekly: bool) -> list[str]:
    """Upserts the schedules of the users matching ``where`` and records their zones."""
    updated = [c.strip() for c in columns.split(",")[1:]]
    return [
        f"""INSERT INTO local_time_schedules ({columns})
    {_sqlite_source(weekly)}
    WHERE {where}
    ON CONFLICT (user_id) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in updated)}""",
        f"""INSERT OR IGNORE INTO local_time_zones (zone)
    SELECT s.zone FROM local_time_schedules s JOIN users u ON u.id = s.user_id
    WHERE {where}""",
    ]


# Migration 0002's SQLite triggers: (name, event, the users each one syncs).
SQLITE_TRIGGERS = (
    ("local_time_users_insert", "INSERT ON users", ("u.id = NEW.id",)),
    (
        "local_time_users_update",
        "UPDATE OF workspace_id, timezone, is_active ON users",
        ("u.id = NEW.id",),
    ),
    ("local_time_settings_insert", "INSERT ON notification_settings", ("u.id = NEW.user_id",)),
    (
        "local_time_settings_update",
        "UPDATE ON notification_settings",
        ("u.id = OLD.user_id", "u.id = NEW.user_id"),
    ),
    ("local_time_settings_delete", "DELETE ON notification_settings", ("u.id = OLD.user_id",)),
    (
        "local_time_workspaces_update",
        "UPDATE OF timezone ON workspaces",
        ("u.workspace_id = NEW.id",),
    ),
)


def _sqlite_triggers(columns: str, weekly: bool) -> None:
    for trigger, event, wheres in SQLITE_TRIGGERS:
        body = "".join(
            f"{stmt};\n" for where in wheres for stmt in _sqlite_sync(where, columns, weekly)
        )
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute(f"CREATE TRIGGER {trigger} AFTER {event} BEGIN\n{body}END")


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("weekly_report_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("weekly_report_day", sa.Integer(), server_default="1", nullable=False),
        sa.Column("weekly_report_time", sa.Time(), server_default="08:00", nullable=False),
        sa.Column("digest_days_set", sa.Boolean(), server_default=sa.false(), nullable=False),
    ]


def upgrade() -> None:
    for column in _columns():
        op.add_column("local_time_schedules", column)
    if op.get_bind().dialect.name == "postgresql":
        _pg_upgrade()
        return
    if not host_included():
        op.create_index(
            INDEX,
            "local_time_schedules",
            ["zone", "weekly_report_time"],
            sqlite_where=sa.text(WEEKLY_DUE),
        )
        return
    _sqlite_triggers(NEW_COLUMNS, weekly=True)
    for stmt in _sqlite_sync(f"u.id IN ({CHANGED})", NEW_COLUMNS, weekly=True):
        op.execute(stmt)
    op.create_index(
        INDEX,
        "local_time_schedules",
        ["zone", "weekly_report_time"],
        sqlite_where=sa.text(WEEKLY_DUE),
    )


def _pg_upgrade() -> None:
    if host_included():
        op.execute(_pg_sync_function(NEW_COLUMNS, weekly=True))
        op.execute(f"SELECT notifier_sync_local_time_schedules(ARRAY({CHANGED}))")
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")  # an interrupted build
        op.create_index(
            INDEX,
            "local_time_schedules",
            ["zone", "weekly_report_time"],
            postgresql_include=["user_id", "weekly_report_day"],
            postgresql_where=sa.text(WEEKLY_DUE),
            postgresql_concurrently=True,
        )
        for name, columns, predicate in TASK_INDEXES if host_included() else ():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.create_index(
                name,
                "tasks",
                columns,
                postgresql_where=sa.text(predicate),
                postgresql_concurrently=True,
            )


def downgrade() -> None:
    for name, *_ in TASK_INDEXES:
        op.drop_index(name, table_name="tasks")
    op.drop_index(INDEX, table_name="local_time_schedules")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_sync_function(OLD_COLUMNS, weekly=False))
    else:
        _sqlite_triggers(OLD_COLUMNS, weekly=False)
    for column in _columns():
        op.drop_column("local_time_schedules", column.name)
