"""Memory: one worker's resident size over thousands of ticks (it must stay flat).

The benchmark enqueues the ticks itself, as arq's cron would, in rounds, rotating over the
three jobs that select among a million users; it reads the worker's RSS after each round.
Ticks run at the real clock, so users whose local digest or notes time passes while the
phase runs are really due: some ticks send (into the sink), most find nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bench.lab import Lab, cron_job_id, until, utc_now, workers_ready
from bench.procs import SinkProcess, rss_mib, start_workers, stop_workers
from bench.sending import with_port

JOBS = ("appointment_reminders", "daily_digest", "notes_reminders")
ROUND = 100
WARM_UP_SHARE = 0.1


@dataclass(frozen=True)
class MemoryRun:
    """RSS (MiB) after each round of ticks, and how many emails those ticks sent."""

    samples: list[tuple[int, float]]
    sent: int

    def drift(self) -> tuple[float, float]:
        """Lowest and highest RSS after warm-up, relative to RSS at the end of warm-up."""
        ticks = self.samples[-1][0]
        after = [mib for tick, mib in self.samples if tick >= ticks * WARM_UP_SHARE]
        reference = after[0]
        return min(after) / reference - 1, max(after) / reference - 1


async def run_memory(lab: Lab, ticks: int) -> MemoryRun:
    sink = SinkProcess.start(lab.folder, "memory")
    procs = []
    try:
        procs = start_workers(with_port(lab, sink.port), lab.folder / "memory", 1)
        await workers_ready(lab, [procs[0].pid])
        samples = await _rounds(lab, ticks, procs[0].pid)
    finally:
        stop_workers(procs)
        accepted = sink.stop()
    return MemoryRun(samples, len(accepted))


async def _rounds(lab: Lab, ticks: int, pid: int) -> list[tuple[int, float]]:
    pool = await lab.arq()
    base = utc_now()
    samples = [(0, rss_mib(pid))]
    try:

        async def drained() -> bool:
            return int(await pool.zcard("arq:queue")) == 0

        for start in range(0, ticks, ROUND):
            for i in range(start, min(start + ROUND, ticks)):
                job = JOBS[i % len(JOBS)]
                at = base + timedelta(milliseconds=i)
                await pool.enqueue_job(job, _job_id=cron_job_id(job, at))
            await until(drained, 600, "a round of ticks", every=0.05)
            samples.append((min(start + ROUND, ticks), rss_mib(pid)))
    finally:
        await pool.aclose()
    return samples
