"""Each tick's statements that rely on a partial index can use it in a generic plan.

asyncpg prepares every statement; after five runs PostgreSQL may keep one plan for any
parameter values, and a partial index serves that plan only if the statement names its
predicate's constant (``notifier.db.inline_constants``). Sent as a parameter, ``status =
'running'`` left the tick's ``job_runs`` write reading the whole table every tick, more as the
table grew. The probes' statements are checked the same way: PostgreSQL may keep a generic
plan for any of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from notifier.app import Services
from notifier.db.engine import host_schema, own_schema
from notifier.db.schema import reminders_sent
from notifier.delivery import run_ledger
from notifier.health.probe import oldest_unsent_query
from notifier.services import appointment_reminders, overdue_scanner
from notifier.services.cleanup import Limits, past_last_chance
from notifier.services.daily_digest import DIGEST
from notifier.services.held_slots import held_ids_sql
from notifier.services.local_time import LocalTimeKind
from notifier.services.next_send import _due_sql
from notifier.services.notes_reminders import NOTES
from notifier.services.weekly_report import WEEKLY
from tests.support.plans import generic_plan, prepared_sql

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("statements", [run_ledger.whole_statements, run_ledger.open_statements])
async def test_a_ticks_job_runs_row_closes_abandoned_rows_through_the_running_index(
    services: Services, statements: object
) -> None:
    async with services.engine.connect() as conn:
        sql = prepared_sql(conn, statements()[0])  # type: ignore[operator]
        assert "ix_job_runs_running" in (await generic_plan(conn, sql)).indexes


async def test_the_appointments_selection_probes_scheduled_appointments_and_held_slots(
    services: Services,
) -> None:
    async with services.probes.connect() as conn:
        sql = appointment_reminders._selection_sql(own_schema(conn), host_schema(conn))
        plan = await generic_plan(conn, sql)
    assert "ix_appointments_scheduled_starts_at" in plan.indexes
    assert plan.seq_scans == set()  # held slots: their index or the unique key, as costs say


async def test_the_quiet_look_back_of_appointments_probes_scheduled_appointments(
    services: Services,
) -> None:
    window = appointment_reminders._window(services, NOW)
    async with services.engine.connect() as conn:
        stmt = appointment_reminders.quiet_candidate_query(window, NOW)
        sql = prepared_sql(conn, stmt)
        assert "ix_appointments_scheduled_starts_at" in (await generic_plan(conn, sql)).indexes


@pytest.mark.parametrize("kind", [DIGEST, NOTES, WEEKLY], ids=lambda k: k.kind)
async def test_a_local_time_tick_reads_due_rows_and_held_slots_through_their_indexes(
    services: Services, kind: LocalTimeKind
) -> None:
    async with services.probes.connect() as conn:
        due = _due_sql(kind.copy, own_schema(conn), conn.dialect)
        plan = await generic_plan(conn, due)  # held slots' users included
        assert any(name.endswith("_next") for name in plan.indexes)
        assert plan.seq_scans == set()
        held = held_ids_sql(own_schema(conn))  # the direct path's read
        assert (await generic_plan(conn, held)).seq_scans == set()


async def test_health_and_cleanup_find_pending_rows_through_their_index(
    services: Services,
) -> None:
    limits = Limits.from_settings(services.settings, NOW)
    expiring = select(reminders_sent.c.id).where(past_last_chance(limits)).limit(100)
    async with services.engine.connect() as conn:
        for stmt in (oldest_unsent_query(), expiring):
            sql = prepared_sql(conn, stmt)
            assert "ix_reminders_sent_pending_lease" in (await generic_plan(conn, sql)).indexes


async def test_the_overdue_scan_probes_open_tasks_not_yet_overdue(services: Services) -> None:
    async with services.probes.connect() as conn:
        sql = prepared_sql(conn, overdue_scanner.candidates(NOW - timedelta(minutes=1)))
        assert "ix_tasks_open_not_overdue_due_date" in (await generic_plan(conn, sql)).indexes
