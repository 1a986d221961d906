"""The benchmark harness at toy size, so it keeps working between real runs.

Speed is proven by the committed report (``bench/results/``), never by a timed test: this
only checks that every phase runs, sends each slot once and writes the report and charts.
"""

from __future__ import annotations

from pathlib import Path

from bench.__main__ import measure, parse, write

from tests.support.servers import Server, preloads_statement_stats

TOY = [
    "--users=400",
    "--zones=12",
    "--appointments=500",
    "--sizes=90",
    "--due=40",
    "--ticks=12",
    "--connections=4",
    "--batch-size=30",
    "--blast=50",
    "--profile=40",
]


async def test_the_benchmark_runs_end_to_end_at_toy_size(
    pg: Server, redis_server: Server, tmp_path: Path
) -> None:
    args = parse(TOY)
    results = await measure(args, pg, redis_server, tmp_path, redis_db=7)
    for run in results.sends:
        assert (len(run.accepted), run.duplicates) == (90, 0), run.label
        assert (run.job_run["selected"], run.job_run["sent"]) == (90, 90), run.label
        assert len(run.lateness) == 90
    assert [s.workers for s in results.sends] == [1, 2]
    assert len(results.blast.accepted) == 50
    found = {(row.job, row.due): row.found for row in results.selection}
    assert found[("appointment_reminders", 0)] == 0
    assert found[("appointment_reminders", 40)] == 40
    assert found[("daily_digest", 40)] == 40
    assert results.profile.plain_counts.sent == 40
    assert results.memory.samples[-1][0] == 12
    report = write(results, tmp_path / "out")
    text = report.read_text()
    assert "## Targets" in text and "e2e-2w-90" in text
    if preloads_statement_stats():
        # The suite's server loads pg_stat_statements: the claim must show in the breakdown.
        assert "Where PostgreSQL's time went in `e2e-1w-90`" in text
        assert any("reminders_sent" in s.text for s in results.sends[0].statements)
    for chart in ("throughput.png", "lateness.png", "memory.png"):
        assert (tmp_path / "out" / chart).stat().st_size > 1000
