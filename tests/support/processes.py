"""Running the installed ``notifier`` command as a real subprocess, as operators do."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from notifier.config import Settings


def notifier_command() -> list[str]:
    """The console script installed next to this Python (pip install, not the source tree)."""
    script = Path(sys.executable).parent / "notifier"
    return [str(script)] if script.exists() else [sys.executable, "-m", "notifier"]


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a deployment would set, built from a test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOB_", "SMTP_", "DATABASE"))}
    env.update(
        DATABASE_URL=settings.database_url.get_secret_value(),
        REDIS_URL=settings.redis_url.get_secret_value(),
        SMTP_HOST=settings.smtp_host,
        SMTP_PORT=str(settings.smtp_port),
        MAIL_FROM=settings.mail_from,
        APP_BASE_URL=settings.app_base_url,
        SMTP_RETRY_BASE_SECONDS="0.01",
    )
    env.update(extra)
    return env


def run_notifier(
    args: list[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs ``notifier ARGS`` from an unrelated directory, so packaged files must be found."""
    return subprocess.run(
        [*notifier_command(), *args],
        env=dict(env),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_notifier(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Starts ``notifier ARGS`` in the background; stdout and stderr go to ``log``."""
    handle = log.open("ab")
    return subprocess.Popen(
        [*notifier_command(), *args],
        env=dict(env),
        cwd=tempfile.gettempdir(),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
