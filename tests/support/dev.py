"""A real ``notifier dev`` subprocess on free ports, and deadline-bound polling of it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from notifier.dev.seed import build_demo
from notifier.jobs.registry import tick_functions
from notifier.rules.kinds import EMAIL
from tests.support.processes import start_notifier
from tests.support.servers import free_port

# Variables that would replace a stand-in, or change what the run does, unless a test sets them.
CLEARED = (
    "DATABASE",
    "REDIS",
    "SMTP_",
    "JOB_",
    "HEALTH_",
    "LOG_LEVEL",
    "MAIL_FROM",
    "WEBHOOK_",
    "DEFAULT_CHANNELS",
)


def poll(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    """Polls ``check`` until it holds; fails with ``what`` at the deadline (no guessed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}")


def expected_on(channel: str) -> list[tuple[str, str]]:
    """(kind, recipient's email) of the demo's deliveries on ``channel`` from the jobs this
    build registers (any URL makes the seed expect the webhook user's posts)."""
    demo = build_demo(datetime.now(UTC), webhook_url="http://127.0.0.1:9/hooks/any")
    registered = tick_functions()
    return sorted((e.kind, e.to) for e in demo.expected_on(channel) if e.job in registered)


def expected_mail() -> list[tuple[str, str]]:
    """(kind, recipient) of the demo's mail from the jobs this build registers."""
    return expected_on(EMAIL)


def demo_emails() -> dict[str, str]:
    """User id (text) to email address of the demo's users (their ids are stable)."""
    demo = build_demo(datetime.now(UTC))
    return {str(user_id): email for email, user_id in demo.user_ids().items()}


def get_json(url: str, timeout: float = 5) -> tuple[int, Any]:
    """Status and JSON body; raises OSError while nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@dataclass
class DevProcess:
    """One ``notifier dev`` process; ``started`` is the wall time just before it was spawned."""

    proc: subprocess.Popen[bytes]
    log: Path
    data_dir: Path
    inbox_port: int
    health_port: int
    smtp_port: int
    started: datetime

    @classmethod
    def start(cls, folder: Path, *args: str, **env: str) -> DevProcess:
        folder.mkdir(parents=True, exist_ok=True)
        ports = {"inbox": free_port(), "health": free_port(), "smtp": free_port()}
        base = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
        full_env = {**base, "HEALTH_PORT": str(ports["health"]), **env}
        argv = ["dev", "--data-dir", str(folder / "data"), "--inbox-port", str(ports["inbox"])]
        argv += ["--smtp-port", str(ports["smtp"]), *args]
        log = folder / "notifier-dev.log"
        started = datetime.now(UTC)
        proc = start_notifier(argv, full_env, log)
        return cls(
            proc, log, folder / "data", ports["inbox"], ports["health"], ports["smtp"], started
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://localhost:{self.inbox_port}{path}"

    def messages(self) -> list[dict[str, Any]]:
        status, body = get_json(self.url("/api/messages"))
        assert status == 200, status
        return list(body["messages"])

    def health(self) -> tuple[int, dict[str, Any]]:
        return get_json(f"http://127.0.0.1:{self.health_port}/health")

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the banner is printed (everything is listening by then), or the process died."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"notifier dev exited {self.proc.returncode}:\n{self.output()}"
                )
            return "Stop with Ctrl-C" in self.output()

        poll(ready, timeout, "the notifier dev banner")

    def received(self) -> list[tuple[str, str]]:
        return sorted((m["kind"], m["to"]) for m in self.messages())

    def in_app(self) -> list[tuple[str, str]]:
        """(kind, user's email) of every in-app row the inbox shows."""
        status, body = get_json(self.url("/api/in-app"))
        assert status == 200 and body["error"] is None, body
        return sorted((n["kind"], u["email"]) for u in body["users"] for n in u["notifications"])

    def webhooks(self) -> list[dict[str, Any]]:
        """The webhook posts the dev receiver caught, as the inbox's API lists them."""
        status, body = get_json(self.url("/api/webhooks"))
        assert status == 200, status
        return list(body["posts"])

    def hooked(self) -> list[tuple[str, str, bool]]:
        """(kind, user's email, signature verified) of every caught webhook post."""
        emails = demo_emails()
        return sorted(
            (p["kind"], emails.get(str(p["body"].get("user_id")), "?"), p["verified"])
            for p in self.webhooks()
        )

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a person does; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)
