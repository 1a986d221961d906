"""SQLite has no UPDATE inside WITH: the run's start closes abandoned rows in its own statement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from notifier.app import Services
from notifier.db.schema import job_runs
from notifier.jobs.runs import ABANDONED_AFTER, TickRow, add_counts, run_recorded
from notifier.services.counts import TickCounts


async def test_abandoned_rows_close_and_counts_add_on_sqlite(sqlite_services: Services) -> None:
    started = datetime.now(UTC) - ABANDONED_AFTER - timedelta(minutes=1)
    async with sqlite_services.engine.begin() as conn:
        await conn.execute(
            insert(job_runs).values(
                id=uuid.uuid4(),
                job_name="daily_digest",
                run_id="killed",
                status="running",
                scheduled_for=started,
                started_at=started,
            )
        )

    async def runner(row: TickRow) -> TickCounts:
        await row.open()
        await add_counts(sqlite_services, row.id, TickCounts(sent=2))
        return TickCounts(selected=2)

    await run_recorded(sqlite_services, "daily_digest", datetime.now(UTC), "this", runner=runner)
    async with sqlite_services.engine.connect() as conn:
        rows = {r["run_id"]: r for r in (await conn.execute(select(job_runs))).mappings()}
    assert rows["killed"]["status"] == "failed" and "abandoned" in rows["killed"]["error"]
    assert (rows["this"]["status"], rows["this"]["selected"], rows["this"]["sent"]) == (
        "succeeded",
        2,
        2,
    )
