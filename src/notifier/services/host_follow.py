"""The local-time copy beside a host's views: kept by ``notifier host-triggers``, or not kept.

Three ways a tick finds the users due at a local time (``services.local_time``):

* a full ``notifier migrate`` put triggers on the host's tables (they are the worker's to
  change): the copy is always current, and its index answers;
* ``--own-tables-only`` with ``notifier host-triggers install``: the host's statements leave
  rows in ``host_changes`` (migration 0009); a tick that sees some refreshes the copy from the
  host's relations once, in the snapshot it saw them in, and deletes them; then the index
  answers. Workers refreshing at once: one does (an advisory lock), the others use the copy;
* ``--own-tables-only`` alone: nothing keeps the copy, and each tick reads every user through
  the host's relations (``local_time.direct_sql``).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.db.copy_state import CopyState
from notifier.db.engine import host_schema, own_schema, qualified

# The copy's columns, in the order the source gives them (``host_follow`` writes them).
COPY_COLUMNS = (
    "user_id",
    "zone",
    "is_active",
    "email_enabled",
    "digest_enabled",
    "digest_time",
    "digest_skip_weekends",
    "notes_reminder_enabled",
    "notes_reminder_time",
    "weekly_report_enabled",
    "weekly_report_day",
    "weekly_report_time",
    "digest_days_set",
)
_HOST_SOURCE_SQL = """
SELECT u.id AS user_id,
       coalesce(nullif(u.timezone, ''), nullif(w.timezone, ''), 'UTC') AS zone,
       coalesce(u.is_active, false) AS is_active,
       coalesce(n.email_enabled, true) AS email_enabled,
       coalesce(n.digest_enabled, false) AS digest_enabled,
       coalesce(n.digest_time, time '07:00') AS digest_time,
       coalesce(n.digest_skip_weekends, false) AS digest_skip_weekends,
       coalesce(n.notes_reminder_enabled, false) AS notes_reminder_enabled,
       coalesce(n.notes_reminder_time, time '18:00') AS notes_reminder_time,
       coalesce(n.weekly_report_enabled, false) AS weekly_report_enabled,
       coalesce(n.weekly_report_day, 1) AS weekly_report_day,
       coalesce(n.weekly_report_time, time '08:00') AS weekly_report_time,
       coalesce(CAST(n.digest_days AS text), 'null') <> 'null' AS digest_days_set
FROM {users} AS u
LEFT JOIN {workspaces} AS w ON w.id = u.workspace_id
LEFT JOIN {settings} AS n ON n.user_id = u.id
"""


def host_source_sql(host: str | None) -> str:
    """Every user's schedule as the copy holds it, read from the host's relations."""
    return _HOST_SOURCE_SQL.format(
        users=qualified(host, "users"),
        workspaces=qualified(host, "workspaces"),
        settings=qualified(host, "notification_settings"),
    )


# pg_try_advisory_xact_lock key of the refresh: "notifier" in ASCII, as a bigint.
REFRESH_LOCK = 0x6E6F746966696572


async def kept_by_migration(conn: AsyncConnection) -> bool:
    """Whether the full migration's sync function (hence its triggers) exists."""
    if conn.dialect.name != "postgresql":
        return True
    name = qualified(own_schema(conn), "notifier_sync_local_time_schedules")
    return bool(await conn.scalar(text("SELECT to_regproc(:name) IS NOT NULL"), {"name": name}))


async def follow_host(engine: AsyncEngine, known: CopyState) -> None:
    """Decides for this tick whether the copy is current (``known.copy_kept``), refreshing it
    first when the host's triggers left changes."""
    if known.kept_by_migration is None:
        async with engine.connect() as conn:
            known.kept_by_migration = await kept_by_migration(conn)
    if known.kept_by_migration:
        known.copy_kept = True
        return
    async with engine.execution_options(isolation_level="REPEATABLE READ").begin() as conn:
        known.copy_kept = await _refreshed(conn)


async def _refreshed(conn: AsyncConnection) -> bool:
    """Whether the triggers are installed; if so, the copy refreshed for the changes seen."""
    own = own_schema(conn)
    sync, changes = qualified(own, "host_sync"), qualified(own, "host_changes")
    row = (
        await conn.execute(
            text(f"SELECT installed, ARRAY(SELECT id FROM {changes}) FROM {sync} WHERE id = 1")
        )
    ).first()
    if row is None or not row[0]:
        return False
    seen = list(row[1])
    if seen and await conn.scalar(
        text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": REFRESH_LOCK}
    ):
        await refresh_copy(conn)
        await conn.execute(text(f"DELETE FROM {changes} WHERE id = ANY(:ids)"), {"ids": seen})
    return True


async def refresh_copy(conn: AsyncConnection) -> None:
    """The copy made equal to the host's relations: changed rows written (and their zones
    listed, in the same statement), gone users deleted."""
    own, host = own_schema(conn), host_schema(conn)
    schedules = qualified(own, "local_time_schedules")
    updated = COPY_COLUMNS[1:]
    await conn.execute(
        text(
            f"WITH written AS (INSERT INTO {schedules} AS s ({', '.join(COPY_COLUMNS)})"
            f" SELECT {', '.join(COPY_COLUMNS)} FROM ({host_source_sql(host)}) AS h"
            " ON CONFLICT (user_id) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
            + f" WHERE ({', '.join(f's.{c}' for c in updated)})"
            f" IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in updated)})"
            " RETURNING s.zone)"
            f" INSERT INTO {qualified(own, 'local_time_zones')} (zone)"
            " SELECT DISTINCT zone FROM written ON CONFLICT DO NOTHING"
        )
    )
    users = qualified(host, "users")
    await conn.execute(
        text(
            f"DELETE FROM {schedules} AS s"
            f" WHERE NOT EXISTS (SELECT 1 FROM {users} AS u WHERE u.id = s.user_id)"
        )
    )
