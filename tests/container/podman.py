"""podman as the image tests drive it: the flags this machine's kernel needs, and the image build.

runc rather than crun and cgroupfs rather than systemd (scripts/install-podman says why); host
networking, so a container reaches the suite's PostgreSQL, Redis and SMTP capture on loopback
and the test reaches the container's health port the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("NOTIFIER_TEST_IMAGE", "localhost/notifier:test")
PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager=cgroupfs")
BUILD_TIMEOUT_SECONDS = 900  # a fresh machine: debootstrap of the stand-in base, then the build


def podman(
    *args: str, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One podman command; its exit code is the caller's to judge."""
    return subprocess.run(
        [*PODMAN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build_image() -> float:
    """``scripts/build-image`` (the Dockerfile as it is, on the cached stand-in base); seconds.

    Fails, never skips, when podman is missing or the build breaks: CI must say so loudly."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run bash scripts/install-podman (scripts/test does)")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-image")],
        cwd=REPO,
        env={**os.environ, "NOTIFIER_TEST_IMAGE": IMAGE},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/build-image failed:\n{result.stdout}\n{result.stderr}")
    return time.monotonic() - started


class Secrets:
    """podman secrets mounted as files at run time (``--secret NAME,type=mount,target=var``:
    ``/run/secrets/var``, which notifier reads, ``config.settings_from_environment``): the
    container's configuration, and so ``podman inspect``, holds only their names."""

    def __init__(self, prefix: str, values: dict[str, str]) -> None:
        self.names = {var: f"{prefix}-{var.lower().replace('_', '-')}" for var in values}
        self.values = values

    def create(self) -> None:
        for var, name in self.names.items():
            result = podman("secret", "create", name, "-", stdin=self.values[var])
            assert result.returncode == 0, result.stderr

    def run_options(self) -> list[str]:
        return [
            option
            for var, name in self.names.items()
            for option in ("--secret", f"{name},type=mount,target={var.lower()},mode=0444")
        ]

    def remove(self) -> None:
        for name in self.names.values():
            podman("secret", "rm", name)
