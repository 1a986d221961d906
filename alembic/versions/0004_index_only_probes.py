"""Index-only probes for the local-time selection; a small index of running ``job_runs``.

* The digest and notes-reminder selections probe ``(zone, time)`` once per zone and range
  (~420 probes a tick). As plain partial indexes each probe was a bitmap index scan plus a
  bitmap heap scan (~2.1 ms a tick at a million users); carrying ``user_id`` (and the
  weekend flag the query filters on) lets PostgreSQL answer from the index alone (~1 ms).
* Every tick closes its job's abandoned ``running`` rows. Through
  ``ix_job_runs_job_name_started_at`` that read every row of the job older than 11 minutes
  (~43,000 at a minute's ticks and 30 days of history); this partial index holds only the
  rows still ``running``, a handful.

PostgreSQL builds them ``CONCURRENTLY`` (outside the migration's transaction), so upgrading a
busy database never blocks writes; an interrupted build leaves an INVALID index: drop it and
run the migration again. SQLite has no ``INCLUDE``: there only the ``job_runs`` index is new.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 21:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = "ix_job_runs_running"
# (name, time column, columns carried, predicate): the predicates of migration 0002.
LOCAL_TIME = (
    (
        "ix_local_time_schedules_digest_due",
        "digest_time",
        ["user_id", "digest_skip_weekends"],
        "digest_enabled AND is_active AND email_enabled",
    ),
    (
        "ix_local_time_schedules_notes_due",
        "notes_reminder_time",
        ["user_id"],
        "notes_reminder_enabled AND is_active AND email_enabled",
    ),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(
            RUNNING,
            "job_runs",
            ["job_name", "started_at"],
            sqlite_where=sa.text("status = 'running'"),
        )
        return
    with op.get_context().autocommit_block():
        op.create_index(
            RUNNING,
            "job_runs",
            ["job_name", "started_at"],
            postgresql_where=sa.text("status = 'running'"),
            postgresql_concurrently=True,
        )
        for name, column, carried, predicate in LOCAL_TIME:
            _rebuild(name, column, carried, predicate)


def _rebuild(name: str, column: str, carried: list[str], predicate: str) -> None:
    """Builds the covering index beside the old one, then swaps it in: never without one.

    Each step may be repeated, so a migration interrupted half-way can simply run again.
    """
    op.create_index(
        f"{name}_new",
        "local_time_schedules",
        ["zone", column],
        postgresql_include=carried,
        postgresql_where=sa.text(predicate),
        postgresql_concurrently=True,
        if_not_exists=True,
    )
    op.drop_index(
        name, table_name="local_time_schedules", postgresql_concurrently=True, if_exists=True
    )
    op.execute(f"ALTER INDEX {name}_new RENAME TO {name}")


def downgrade() -> None:
    op.drop_index(RUNNING, table_name="job_runs")
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, column, _carried, predicate in LOCAL_TIME:
        op.drop_index(name, table_name="local_time_schedules")
        op.create_index(
            name, "local_time_schedules", ["zone", column], postgresql_where=sa.text(predicate)
        )
