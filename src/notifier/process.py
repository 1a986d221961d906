"""The ``notifier worker`` process: an arq worker kept alive across outages, stopped gracefully.

arq's own runner dies when Redis stays away longer than its retry budget (arq issue #498) and
cancels running ticks at once on SIGTERM. Here the process owns the loop: it restarts arq's
``Worker`` after a failure with capped backoff, and on SIGTERM/SIGINT it stops picking jobs,
gives running ticks ``SHUTDOWN_GRACE_SECONDS`` to finish (a cancelled tick releases its
claims), then exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import structlog
from arq.worker import Worker, create_worker

from notifier.config import Settings
from notifier.runtime import close_runtime, open_runtime
from notifier.worker import SHUTDOWN_GRACE_SECONDS, build_worker_settings, job_schedules, utc_now

log = structlog.get_logger("notifier.process")
RESTART_BACKOFF_CAP_SECONDS = 30.0


def _install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def serve(settings: Settings) -> None:
    """Runs until SIGTERM/SIGINT; returns normally so the process exits 0."""
    stop = asyncio.Event()
    _install_stop_handlers(stop)
    runtime = await open_runtime(settings, utc_now, job_schedules(settings))
    worker_settings = build_worker_settings(settings)
    try:
        await run_until_stopped(worker_settings, {"services": runtime.services}, stop)
    finally:
        await close_runtime(runtime)
    log.info("worker_stopped")


async def run_until_stopped(
    worker_settings: type, ctx: dict[str, Any], stop: asyncio.Event
) -> None:
    failures = 0
    while not stop.is_set():
        worker = create_worker(worker_settings, handle_signals=False, ctx=dict(ctx))
        failed = await _run_once(worker, stop)
        failures = failures + 1 if failed else 0
        if failed and not stop.is_set():
            delay = min(RESTART_BACKOFF_CAP_SECONDS, 2.0**failures)
            log.warning("worker_restarting", failures=failures, delay_seconds=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def _run_once(worker: Worker, stop: asyncio.Event) -> bool:
    """One arq worker's life; True when it ended by failing rather than by a stop request."""
    main = asyncio.create_task(worker.main())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    failed = main.done() and not main.cancelled() and main.exception() is not None
    if failed:
        log.error("worker_failed", error=type(main.exception()).__name__)
    await _drain(worker)
    main.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await main
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await worker.close()
    return failed


async def _drain(worker: Worker) -> None:
    """Stops picking jobs and lets running ticks finish within the grace period."""
    worker.allow_pick_jobs = False
    running = [t for t in worker.tasks.values() if not t.done()]
    if not running:
        return
    log.info("waiting_for_running_ticks", count=len(running))
    _done, pending = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
