"""A real ``notifier worker`` subprocess for fault tests, and deadline-bound polling."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from notifier.config import Settings
from notifier.rules.kinds import JOB_NAMES
from tests.support.processes import service_env, start_notifier
from tests.support.servers import free_port


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Polls ``check`` until it holds; fails with ``what`` at the deadline (no guessed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}")


@dataclass
class WorkerProcess:
    """One worker process; only ``appointment_reminders`` is scheduled, to keep ticks small."""

    proc: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, settings: Settings, folder: Path, name: str, **env: str) -> WorkerProcess:
        off = {
            f"JOB_{job.upper()}_ENABLED": "false"
            for job in JOB_NAMES
            if job != "appointment_reminders"
        }
        full_env = service_env(settings, HEALTH_PORT=str(free_port()), **off, **env)
        log = folder / f"{name}.log"
        return cls(start_notifier(["worker"], full_env, log), log)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    async def stop(self, timeout: float = 60) -> int:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, timeout)
