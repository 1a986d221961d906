"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is validated against the compose specification's JSON schema, and every
command it runs is run here too, as written, against the test's own servers: the image's
``notifier migrate`` and ``notifier worker`` (the Dockerfile's ENTRYPOINT plus the service's
command), the worker's healthcheck, Redis with the compose file's flags, and PostgreSQL's
``pg_isready`` healthcheck.

The image itself, built from the Dockerfile and run with podman, is tested in
``tests/container/test_image.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from ruamel.yaml import YAML

from notifier.config import Settings
from tests.support.processes import notifier_command, service_env, start_notifier
from tests.support.servers import PG_BIN_DIRS, Server, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
RUN_BUDGET_SECONDS = 90


def compose() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(COMPOSE.read_text())
    return data


def dockerfile_instruction(name: str) -> list[str]:
    """The JSON (exec) form of a Dockerfile instruction, e.g. ENTRYPOINT."""
    [line] = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith(f"{name} ")]
    value: list[str] = json.loads(line.split(" ", 1)[1])
    return value


def image_argv(service: str) -> list[str]:
    """What the container of ``service`` runs: ENTRYPOINT plus the service's command."""
    command: list[str] = compose()["services"][service]["command"]
    return dockerfile_instruction("ENTRYPOINT") + command


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    result = check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("service_healthy", "service_happy", 1))
    assert check_jsonschema(broken).returncode != 0  # the validator does bite


def test_the_stack_has_what_production_needs() -> None:
    services = compose()["services"]
    assert set(services) >= {"postgres", "redis", "mailhog", "migrate", "worker"}
    worker = services["worker"]
    assert worker["restart"] == "unless-stopped"
    assert "/health" in " ".join(worker["healthcheck"]["test"])
    assert {name: d["condition"] for name, d in worker["depends_on"].items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "mailhog": "service_started",
        "migrate": "service_completed_successfully",
    }
    assert services["migrate"]["restart"] == "no"
    assert {p.rsplit(":", 1)[-1] for p in services["mailhog"]["ports"]} == {"1025", "8025"}
    for name, service in services.items():
        tag = service["image"].rsplit(":", 1)
        assert len(tag) == 2 and tag[1] not in ("latest", ""), f"{name}: pin the image"
    settings_fields = set(Settings.model_fields)
    for key in compose()["x-notifier-env"]:
        assert key.lower() in settings_fields, f"{key} is not a notifier setting"


def test_the_image_is_slim_pinned_and_runs_the_worker_unprivileged() -> None:
    text = DOCKERFILE.read_text()
    bases = [ln.split()[1] for ln in text.splitlines() if ln.startswith("FROM ")]
    assert bases and all("-slim" in b and ":" in b and "latest" not in b for b in bases)
    assert "--constraint constraints.txt" in text
    [user] = [ln.split()[1] for ln in text.splitlines() if ln.startswith("USER ")]
    assert user not in ("root", "0")
    assert dockerfile_instruction("ENTRYPOINT") == ["notifier"]
    assert dockerfile_instruction("CMD") == ["worker"]
    # HEALTHCHECK's own CMD is its indented continuation line: the compose file's probe.
    [probe] = [ln.strip()[4:] for ln in text.splitlines() if ln.startswith("  CMD [")]
    assert json.loads(probe) == compose()["services"]["worker"]["healthcheck"]["test"][1:]


def _as_installed(argv: list[str]) -> list[str]:
    """The image's ``notifier`` is the console script; here, the one installed for the tests."""
    assert argv[0] == "notifier"
    return notifier_command() + argv[1:]


def _container_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The compose environment with its hosts replaced by the test's servers."""
    env = service_env(settings, **extra)
    for key, value in compose()["x-notifier-env"].items():
        if key not in ("DATABASE_URL", "REDIS_URL", "SMTP_HOST", "SMTP_PORT"):
            env.setdefault(key, str(value))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


async def test_the_migrate_and_worker_commands_run_and_the_healthcheck_passes(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = _container_env(settings, HEALTH_PORT=str(port))
    migrate = await asyncio.to_thread(
        subprocess.run,
        _as_installed(image_argv("migrate")),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr

    log = tmp_path / "worker.log"
    worker = start_notifier(image_argv("worker")[1:], env, log)
    healthcheck = compose()["services"]["worker"]["healthcheck"]["test"]
    assert healthcheck[0] == "CMD"
    try:
        passed = await _until_exit_zero(healthcheck[1:], env)
        assert passed, log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 45)  # the compose stop_grace_period
    assert code == 0, log.read_text()


async def _until_exit_zero(argv: list[str], env: dict[str, str]) -> bool:
    deadline = time.monotonic() + RUN_BUDGET_SECONDS
    while time.monotonic() < deadline:
        probe = await asyncio.to_thread(
            subprocess.run, argv, env=env, capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return True
        await asyncio.sleep(0.5)
    return False


async def test_redis_runs_with_the_compose_flags_as_intended(tmp_path: Path) -> None:
    argv = compose()["services"]["redis"]["command"]
    binary = shutil.which(argv[0])
    assert binary, "redis-server not found"
    port = free_port()
    local = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    proc = subprocess.Popen([binary, *argv[1:], *local], stdout=subprocess.DEVNULL)
    client = Redis(port=port, decode_responses=True)
    try:
        await asyncio.to_thread(wait_for_port, port)
        config = await client.config_get("*")
        assert config["appendonly"] == "yes"
        assert config["maxmemory-policy"] == "noeviction"
    finally:
        await client.aclose()
        proc.terminate()
        proc.wait(30)


def test_the_postgres_healthcheck_answers_for_a_running_server(pg: Server) -> None:
    kind, command = compose()["services"]["postgres"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    path = os.pathsep.join([*PG_BIN_DIRS, os.environ.get("PATH", "")])
    env = {"PATH": path, "PGHOST": "127.0.0.1", "PGPORT": str(pg.port)}
    assert subprocess.run(["sh", "-c", command], env=env, check=False, timeout=30).returncode == 0
    env["PGPORT"] = str(free_port())
    assert subprocess.run(["sh", "-c", command], env=env, check=False, timeout=30).returncode != 0
