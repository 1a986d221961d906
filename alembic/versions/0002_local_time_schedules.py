"""Local-time schedules: a worker-owned copy of each user's zone and digest/notes times.

The effective zone is ``coalesce(users.timezone, workspaces.timezone, 'UTC')``, spread over
two host tables, so no index on host tables can answer "zone = z and digest_time in range".
``local_time_schedules`` holds that value per user, next to the times and switches, and
partial indexes on ``(zone, time)`` serve the daily-digest and notes-reminder ticks. Triggers
on ``users``, ``workspaces`` and ``notification_settings`` keep it current inside the host's
own transactions, so the copy is never behind the data it mirrors. ``local_time_zones`` lists
every zone ever stored, so a tick knows which zones to plan without scanning a million rows.

PostgreSQL gets statement-level triggers with transition tables (a bulk import costs one set
operation, not a trigger call per row); SQLite gets the equivalent row-level triggers. No
trigger converts local time to UTC: that stays in Python (``notifier.timemath.zones``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from notifier.db.migration_scope import host_included

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIGEST_DUE = "digest_enabled AND is_active AND email_enabled"
NOTES_DUE = "notes_reminder_enabled AND is_active AND email_enabled"

COLUMNS = (
    "user_id, zone, is_active, email_enabled, digest_enabled, digest_time, "
    "digest_skip_weekends, notes_reminder_enabled, notes_reminder_time"
)
UPDATED = [c.strip() for c in COLUMNS.split(",")[1:]]

# The rows the users ``ids`` imply, with the contract's defaults for a missing settings row.
# Joining ``unnest`` (not ``= ANY``) keeps a bulk import of many users a hash join.
PG_SOURCE = """
    SELECT u.id,
           coalesce(nullif(u.timezone, ''), nullif(w.timezone, ''), 'UTC'),
           coalesce(u.is_active, false),
           coalesce(n.email_enabled, true),
           coalesce(n.digest_enabled, false),
           coalesce(n.digest_time, time '07:00'),
           coalesce(n.digest_skip_weekends, false),
           coalesce(n.notes_reminder_enabled, false),
           coalesce(n.notes_reminder_time, time '18:00')
    FROM (SELECT DISTINCT unnest(ids) AS id) AS changed_ids
    JOIN users u ON u.id = changed_ids.id
    LEFT JOIN workspaces w ON w.id = u.workspace_id
    LEFT JOIN notification_settings n ON n.user_id = u.id
"""

PG_SYNC_FUNCTION = f"""
CREATE FUNCTION notifier_sync_local_time_schedules(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO local_time_schedules AS s ({COLUMNS})
    {PG_SOURCE}
    ON CONFLICT (user_id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in UPDATED)}
    WHERE ({", ".join(f"s.{c}" for c in UPDATED)})
          IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in UPDATED)});
    INSERT INTO local_time_zones (zone)
    SELECT DISTINCT s.zone FROM unnest(ids) AS changed_ids(id)
    JOIN local_time_schedules s ON s.user_id = changed_ids.id
    ON CONFLICT (zone) DO NOTHING;
END $$
"""

# (function name, the ids to sync, reading transition tables ``changed`` and maybe ``before``)
PG_TRIGGER_FUNCTIONS = {
    "notifier_local_time_users_new": "SELECT id FROM changed",
    "notifier_local_time_users_changed": (
        "SELECT c.id FROM changed c JOIN before b ON b.id = c.id "
        "WHERE (c.workspace_id, c.timezone, c.is_active) "
        "IS DISTINCT FROM (b.workspace_id, b.timezone, b.is_active)"
    ),
    "notifier_local_time_settings": "SELECT user_id FROM changed",
    "notifier_local_time_settings_changed": (
        "SELECT user_id FROM changed UNION SELECT user_id FROM before"
    ),
    "notifier_local_time_workspaces_changed": (
        "SELECT u.id FROM users u JOIN changed c ON u.workspace_id = c.id "
        "JOIN before b ON b.id = c.id WHERE c.timezone IS DISTINCT FROM b.timezone"
    ),
}

# (trigger name, table, event, transition tables, function)
PG_TRIGGERS = (
    ("local_time_users_insert", "users", "INSERT", "NEW TABLE AS changed", "users_new"),
    (
        "local_time_users_update",
        "users",
        "UPDATE",
        "OLD TABLE AS before NEW TABLE AS changed",
        "users_changed",
    ),
    (
        "local_time_settings_insert",
        "notification_settings",
        "INSERT",
        "NEW TABLE AS changed",
        "settings",
    ),
    (
        "local_time_settings_update",
        "notification_settings",
        "UPDATE",
        "OLD TABLE AS before NEW TABLE AS changed",
        "settings_changed",
    ),
    (
        "local_time_settings_delete",
        "notification_settings",
        "DELETE",
        "OLD TABLE AS changed",
        "settings",
    ),
    (
        "local_time_workspaces_update",
        "workspaces",
        "UPDATE",
        "OLD TABLE AS before NEW TABLE AS changed",
        "workspaces_changed",
    ),
)


def _pg_trigger_function(name: str, ids: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notifier_sync_local_time_schedules(ARRAY({ids}));
    RETURN NULL;
END $$
"""


def _pg_upgrade() -> None:
    op.execute(PG_SYNC_FUNCTION)
    for name, ids in PG_TRIGGER_FUNCTIONS.items():
        op.execute(_pg_trigger_function(name, ids))
    for trigger, table, event, tables, function in PG_TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {event} ON {table} REFERENCING {tables} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION notifier_local_time_{function}()"
        )
    op.execute("SELECT notifier_sync_local_time_schedules(ARRAY(SELECT id FROM users))")


def _pg_downgrade() -> None:
    for trigger, table, *_ in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for name in PG_TRIGGER_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.execute("DROP FUNCTION IF EXISTS notifier_sync_local_time_schedules(uuid[])")


# SQLite: the same statements per row. Times are stored as SQLAlchemy writes them.
SQLITE_SOURCE = """
    SELECT u.id,
           coalesce(nullif(u.timezone, ''), nullif(w.timezone, ''), 'UTC'),
           coalesce(u.is_active, 0),
           coalesce(n.email_enabled, 1),
           coalesce(n.digest_enabled, 0),
           coalesce(n.digest_time, '07:00:00.000000'),
           coalesce(n.digest_skip_weekends, 0),
           coalesce(n.notes_reminder_enabled, 0),
           coalesce(n.notes_reminder_time, '18:00:00.000000')
    FROM users u
    LEFT JOIN workspaces w ON w.id = u.workspace_id
    LEFT JOIN notification_settings n ON n.user_id = u.id
"""


def _sqlite_sync(where: str) -> list[str]:
    """Upserts the schedules of the users matching ``where`` and records their zones."""
    return [
        f"""INSERT INTO local_time_schedules ({COLUMNS})
    {SQLITE_SOURCE}
    WHERE {where}
    ON CONFLICT (user_id) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in UPDATED)}""",
        f"""INSERT OR IGNORE INTO local_time_zones (zone)
    SELECT s.zone FROM local_time_schedules s JOIN users u ON u.id = s.user_id
    WHERE {where}""",
    ]


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


def _sqlite_upgrade() -> None:
    for trigger, event, wheres in SQLITE_TRIGGERS:
        body = "".join(f"{stmt};\n" for where in wheres for stmt in _sqlite_sync(where))
        op.execute(f"CREATE TRIGGER {trigger} AFTER {event} BEGIN\n{body}END")
    for stmt in _sqlite_sync("true"):
        op.execute(stmt)


def _sqlite_downgrade() -> None:
    for trigger, *_ in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def upgrade() -> None:
    _create_tables()
    dialect = op.get_bind().dialect.name
    if not host_included():
        return  # no triggers on the host's tables: the copy is not kept (migration_scope)
    if dialect == "postgresql":
        _pg_upgrade()
    elif dialect == "sqlite":
        _sqlite_upgrade()


def _user_key() -> list[sa.ForeignKeyConstraint]:
    """The copy's key to ``users``, where the host's tables are ours to constrain."""
    if not host_included():
        return []
    return [
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_local_time_schedules_user_id_users"),
            ondelete="CASCADE",
        )
    ]


def _create_tables() -> None:
    op.create_table(
        "local_time_schedules",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("digest_enabled", sa.Boolean(), nullable=False),
        sa.Column("digest_time", sa.Time(), nullable=False),
        sa.Column("digest_skip_weekends", sa.Boolean(), nullable=False),
        sa.Column("notes_reminder_enabled", sa.Boolean(), nullable=False),
        sa.Column("notes_reminder_time", sa.Time(), nullable=False),
        *_user_key(),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_local_time_schedules")),
    )
    op.create_index(
        "ix_local_time_schedules_digest_due",
        "local_time_schedules",
        ["zone", "digest_time"],
        unique=False,
        postgresql_where=sa.text(DIGEST_DUE),
        sqlite_where=sa.text(DIGEST_DUE),
    )
    op.create_index(
        "ix_local_time_schedules_notes_due",
        "local_time_schedules",
        ["zone", "notes_reminder_time"],
        unique=False,
        postgresql_where=sa.text(NOTES_DUE),
        sqlite_where=sa.text(NOTES_DUE),
    )
    op.create_table(
        "local_time_zones",
        sa.Column("zone", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("zone", name=op.f("pk_local_time_zones")),
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _pg_downgrade()
    elif dialect == "sqlite":
        _sqlite_downgrade()
    op.drop_table("local_time_zones")
    op.drop_index(
        "ix_local_time_schedules_notes_due",
        table_name="local_time_schedules",
        postgresql_where=sa.text(NOTES_DUE),
        sqlite_where=sa.text(NOTES_DUE),
    )
    op.drop_index(
        "ix_local_time_schedules_digest_due",
        table_name="local_time_schedules",
        postgresql_where=sa.text(DIGEST_DUE),
        sqlite_where=sa.text(DIGEST_DUE),
    )
    op.drop_table("local_time_schedules")
