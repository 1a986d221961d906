"""Next-send instants in the local-time copy: a tick with nobody due reads one empty probe.

Migrations 0002-0006 let a tick find due users through ``(zone, time)`` indexes: one probe
per zone and local date, ~420 a tick, a few milliseconds whatever is due. This migration
gives each copy row, per local-time kind, the first instant the user may be owed one
(``digest_next``, ``notes_reminder_next``, ``weekly_report_next``), computed in Python by the
rules that decide (``services.next_send``), and replaces those indexes with one partial,
covering index per kind on that instant. A tick then reads only the rows whose instant has
come.

Every row starts "not computed" (1970-01-01): the first tick of each kind after this
migration computes every user's instant (measured in ``bench/local_time_selection.py``).
``local_time_marks`` holds, per kind, the latest tick instant that moved instants on. A
changed schedule (zone, time, days, switches) is put back to "not computed" by a trigger
on the copy itself, so every writer of the copy (the sync triggers of 0002/0006, ``notifier
host-triggers``' refresh) is covered without being changed. The indexes are built
``CONCURRENTLY`` on PostgreSQL, as 0004's.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "local_time_schedules"
NEXT_COLUMNS = ("digest_next", "notes_reminder_next", "weekly_report_next")
# What a changed row's instants are computed from: any change puts them back.
SCHEDULE_COLUMNS = (
    "zone",
    "is_active",
    "email_enabled",
    "digest_enabled",
    "digest_time",
    "digest_skip_weekends",
    "digest_days_set",
    "notes_reminder_enabled",
    "notes_reminder_time",
    "weekly_report_enabled",
    "weekly_report_day",
    "weekly_report_time",
)
# "Not computed": as PostgreSQL reads it, and as SQLAlchemy writes instants into SQLite.
NOT_COMPUTED = {"postgresql": "1970-01-01 00:00:00+00", "sqlite": "1970-01-01 00:00:00.000000"}
DIGEST_DUE = "digest_enabled AND is_active AND email_enabled"
NOTES_DUE = "notes_reminder_enabled AND is_active AND email_enabled"
WEEKLY_DUE = "weekly_report_enabled AND is_active AND email_enabled"
# (new index, its instant (the key is the instant and the user: ticks read in that order), the
# columns it carries, its predicate)
NEW_INDEXES = (
    (
        "ix_local_time_schedules_digest_next",
        "digest_next",
        ["zone", "digest_time", "digest_skip_weekends", "digest_days_set"],
        DIGEST_DUE,
    ),
    (
        "ix_local_time_schedules_notes_next",
        "notes_reminder_next",
        ["zone", "notes_reminder_time"],
        NOTES_DUE,
    ),
    (
        "ix_local_time_schedules_weekly_next",
        "weekly_report_next",
        ["zone", "weekly_report_time", "weekly_report_day"],
        WEEKLY_DUE,
    ),
)
# (old index, its time column, the columns it carried, its predicate): 0004's and 0006's.
OLD_INDEXES = (
    ("ix_local_time_schedules_digest_due", "digest_time", ["user_id", "digest_skip_weekends"]),
    ("ix_local_time_schedules_notes_due", "notes_reminder_time", ["user_id"]),
    ("ix_local_time_schedules_weekly_due", "weekly_report_time", ["user_id", "weekly_report_day"]),
)
OLD_PREDICATES = (DIGEST_DUE, NOTES_DUE, WEEKLY_DUE)
RESET = "notifier_reset_local_time_next"
# Every row's instant moves once a day per kind, and each move leaves a dead index entry
# at an instant already past, which a tick's read walks until VACUUM removes it: vacuum after
# 1% of the rows changed rather than PostgreSQL's default 20%.
AUTOVACUUM = (
    "autovacuum_vacuum_scale_factor = 0.01",
    "autovacuum_vacuum_threshold = 1000",
    "autovacuum_analyze_scale_factor = 0.01",
    "autovacuum_analyze_threshold = 1000",
)
MARKS = "local_time_marks"


def _changed(old: str, new: str) -> str:
    return (
        f"({', '.join(f'{old}.{c}' for c in SCHEDULE_COLUMNS)}) IS DISTINCT FROM "
        f"({', '.join(f'{new}.{c}' for c in SCHEDULE_COLUMNS)})"
    )


def _pg_reset() -> list[str]:
    assignments = "".join(
        f"        NEW.{c} := '{NOT_COMPUTED['postgresql']}';\n" for c in NEXT_COLUMNS
    )
    return [
        f"""CREATE OR REPLACE FUNCTION {RESET}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF {_changed("OLD", "NEW")} THEN
{assignments}    END IF;
    RETURN NEW;
END $$""",
        f"DROP TRIGGER IF EXISTS {RESET} ON {TABLE}",
        f"CREATE TRIGGER {RESET} BEFORE UPDATE OF {', '.join(SCHEDULE_COLUMNS)} ON {TABLE}"
        f" FOR EACH ROW EXECUTE FUNCTION {RESET}()",
    ]


def _sqlite_reset() -> list[str]:
    value = NOT_COMPUTED["sqlite"]
    changed = _changed("OLD", "NEW").replace("IS DISTINCT FROM", "IS NOT")
    return [
        f"DROP TRIGGER IF EXISTS {RESET}",
        f"CREATE TRIGGER {RESET} AFTER UPDATE OF {', '.join(SCHEDULE_COLUMNS)} ON {TABLE}"
        f" WHEN {changed} BEGIN UPDATE {TABLE} SET "
        + ", ".join(f"{c} = '{value}'" for c in NEXT_COLUMNS)
        + " WHERE user_id = NEW.user_id; END",
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        MARKS,
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("moved_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f(f"pk_{MARKS}")),
    )
    for column in NEXT_COLUMNS:
        default = sa.text(f"'{NOT_COMPUTED[dialect]}'")
        op.add_column(
            TABLE,
            sa.Column(column, sa.DateTime(timezone=True), server_default=default, nullable=False),
        )
    for stmt in _pg_reset() if dialect == "postgresql" else _sqlite_reset():
        op.execute(stmt)
    if dialect == "postgresql":
        op.execute(f"ALTER TABLE {TABLE} SET ({', '.join(AUTOVACUUM)})")
    if dialect != "postgresql":
        for name, column, _carried, predicate in NEW_INDEXES:
            op.create_index(name, TABLE, [column, "user_id"], sqlite_where=sa.text(predicate))
        for name, *_ in OLD_INDEXES:
            op.drop_index(name, table_name=TABLE, if_exists=True)
        return
    with op.get_context().autocommit_block():
        for name, column, carried, predicate in NEW_INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # an interrupted build
            op.create_index(
                name,
                TABLE,
                [column, "user_id"],
                postgresql_include=carried,
                postgresql_where=sa.text(predicate),
                postgresql_concurrently=True,
            )
        for name, *_ in OLD_INDEXES:
            op.drop_index(name, table_name=TABLE, postgresql_concurrently=True, if_exists=True)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for (name, column, carried), predicate in zip(OLD_INDEXES, OLD_PREDICATES, strict=True):
        include = carried if dialect == "postgresql" else None
        where = sa.text(predicate)
        op.create_index(
            name,
            TABLE,
            ["zone", column],
            postgresql_include=include,
            postgresql_where=where,
            sqlite_where=where,
        )
    for name, *_ in NEW_INDEXES:
        op.drop_index(name, table_name=TABLE)
    if dialect == "postgresql":
        names = ", ".join(setting.split(" = ")[0] for setting in AUTOVACUUM)
        op.execute(f"ALTER TABLE {TABLE} RESET ({names})")
        op.execute(f"DROP TRIGGER IF EXISTS {RESET} ON {TABLE}")
        op.execute(f"DROP FUNCTION IF EXISTS {RESET}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {RESET}")
    for column in NEXT_COLUMNS:
        op.drop_column(TABLE, column)
    op.drop_table(MARKS)
