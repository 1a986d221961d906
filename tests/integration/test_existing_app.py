"""``examples/existing-app`` built as its README says, in a fresh database, and run.

A practice application's own schema (``schema.sql``), the views that map it to contract
section 1 (``views.sql``), a role that may only read those views and owns schema ``notifier``
(``grants.sql``), ``notifier migrate --own-tables-only`` as that role, then real
``notifier run`` ticks with ``CONTENT_DECODER=decoder:decode``: appointment reminders and the
digest reach the practitioner with the patient's name decrypted (AES-256-GCM), which the
logs never show; changes made in the application's own tables (a visit cancelled, an agenda
time moved) are honoured by the next tick.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest

from notifier.config import Settings
from tests.conftest import _admin, db_url
from tests.support.processes import run_notifier, service_env
from tests.support.servers import Server
from tests.support.smtp import Captured, CaptureServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "existing-app"
ROLE, PASSWORD = "notifier_worker", "worker-password-4821"
TUESDAY_8_PARIS = datetime(2026, 6, 9, 6, 0, tzinfo=UTC)  # 08:00 CEST
PATIENT, OTHER, GONE = "Sidonie Marchbanks", "Ignatius Fairweather", "Perpetua Oakenshaw"
PRACTITIONER = "pat@practice.test"
KEY = base64.b64encode(secrets.token_bytes(32)).decode("ascii")  # the application's key


def load_decoder(key: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example's decoder module, imported as the worker imports it (key in the env)."""
    monkeypatch.setenv("PRACTICE_NAME_KEY", key)
    spec = importlib.util.spec_from_file_location("example_decoder", EXAMPLE / "decoder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Practice:
    """The example's database, its owner's connection string and the worker's."""

    owner_url: str
    worker_url: str
    cipher: Any
    decoder: ModuleType

    async def sql(self, statement: str, *args: Any) -> list[Any]:
        conn = await asyncpg.connect(self.owner_url.replace("+asyncpg", ""))
        try:
            return list(await conn.fetch(statement, *args))
        finally:
            await conn.close()

    def seal(self, name: str) -> str:
        sealed: str = self.decoder.seal(self.cipher, name)
        return sealed


@pytest.fixture
async def practice(pg: Server, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Practice]:
    name = f"practice_{uuid.uuid4().hex[:10]}"
    await _admin(pg, f"CREATE DATABASE {name}")
    await _admin(
        pg,
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'; END IF; END $$;",
    )
    owner_url = db_url(pg, name)
    scheme, rest = owner_url.split("://", 1)
    worker_url = f"{scheme}://{ROLE}:{PASSWORD}@{rest.split('@', 1)[-1]}"
    decoder = load_decoder(KEY, monkeypatch)
    cipher = decoder.key_from(KEY)
    found = Practice(owner_url, worker_url, cipher, decoder)
    for file in ("schema.sql", "views.sql", "grants.sql"):
        conn = await asyncpg.connect(owner_url.replace("+asyncpg", ""))
        try:
            await conn.execute((EXAMPLE / file).read_text())
        finally:
            await conn.close()
    yield found
    await _admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def worker_env(settings: Settings, practice: Practice) -> dict[str, str]:
    """The README's environment for the worker."""
    return service_env(
        settings,
        DATABASE_URL=practice.worker_url,
        NOTIFIER_SCHEMA="notifier",
        HOST_SCHEMA="notifier_host",
        CONTENT_DECODER="decoder:decode",
        PYTHONPATH=str(EXAMPLE),
        PRACTICE_NAME_KEY=KEY,
        LOG_LEVEL="DEBUG",
        JOB_TASK_DUE_REMINDERS_ENABLED="false",
        JOB_TASK_REMINDERS_ENABLED="false",
        JOB_OVERDUE_SCANNER_ENABLED="false",
        JOB_RECURRING_TASKS_ENABLED="false",
    )


@dataclass(frozen=True)
class Ids:
    practice: uuid.UUID
    practitioner: uuid.UUID
    calendar: uuid.UUID
    tomorrow_visit: uuid.UUID


async def seed(practice: Practice) -> Ids:
    """A Paris practice; a practitioner with reminders 60 minutes before and an agenda at
    08:00 on weekdays; a receptionist (never notified); visits today: one scheduled at 09:00,
    one cancelled and one soft-deleted at 10:00; and one scheduled tomorrow at 09:00."""
    ids = Ids(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    clinic = uuid.uuid4()
    sql = practice.sql
    await sql(
        "INSERT INTO app.practices (id, name, tz) VALUES ($1, 'Rue Cler', 'Europe/Paris')",
        ids.practice,
    )
    await sql(
        "INSERT INTO app.accounts (id, practice_id, email, display_name, role) VALUES "
        "($1, $2, $3, 'Dr Pat Lemaire', 'PRACTITIONER'), "
        "($4, $2, 'desk@practice.test', 'Front Desk', 'RECEPTION')",
        ids.practitioner,
        ids.practice,
        PRACTITIONER,
        uuid.uuid4(),
    )
    await sql(
        "INSERT INTO app.account_preferences (account_id, remind_minutes_before, agenda_email, "
        "agenda_at, agenda_days) VALUES ($1, 60, true, '08:00', "
        '\'["mon", "tue", "wed", "thu", "fri"]\')',
        ids.practitioner,
    )
    await sql(
        "INSERT INTO app.calendars (id, practice_id, owner_account_id, label) "
        "VALUES ($1, $2, $3, 'Pat')",
        ids.calendar,
        ids.practice,
        ids.practitioner,
    )
    await sql(
        "INSERT INTO app.visit_types (id, practice_id, label) VALUES ($1, $2, 'Osteopathy')",
        clinic,
        ids.practice,
    )
    patients = {}
    for name in (PATIENT, OTHER, GONE):
        patients[name] = uuid.uuid4()
        await sql(
            "INSERT INTO app.patients (id, practice_id, name_sealed) VALUES ($1, $2, $3)",
            patients[name],
            ids.practice,
            practice.seal(name),
        )
    nine = TUESDAY_8_PARIS + timedelta(hours=1)
    for visit, patient, starts, state, deleted in (
        (uuid.uuid4(), PATIENT, nine, "SCHEDULED", None),
        (uuid.uuid4(), OTHER, nine + timedelta(hours=1), "CANCELLED", None),
        (uuid.uuid4(), GONE, nine + timedelta(hours=1), "SCHEDULED", TUESDAY_8_PARIS),
        (ids.tomorrow_visit, OTHER, nine + timedelta(days=1), "SCHEDULED", None),
    ):
        await sql(
            "INSERT INTO app.visits (id, calendar_id, patient_id, visit_type_id, room, "
            "starts_at, state, deleted_at) VALUES ($1, $2, $3, $4, 'Room 2', $5, $6, $7)",
            visit,
            ids.calendar,
            patients[patient],
            clinic,
            starts,
            state,
            deleted,
        )
    return ids


async def notifier(args: list[str], env: dict[str, str]) -> Any:
    result = await asyncio.to_thread(run_notifier, args, env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


async def tick(job: str, at: datetime, env: dict[str, str], logs: list[str]) -> dict[str, int]:
    result = await notifier(["run", job, "--at", at.isoformat()], env)
    logs.append(result.stderr)
    counts: dict[str, int] = json.loads(result.stdout)
    return counts


def text_of(message: Captured) -> str:
    parsed = message.parsed()
    parts = [str(parsed["Subject"])]
    for kind in ("plain", "html"):
        body = parsed.get_body(preferencelist=(kind,))
        assert body is not None
        parts.append(str(body.get_content()))
    return "\n".join(parts)


async def test_the_example_app_gets_reminders_and_digests_through_its_views(
    settings: Settings, practice: Practice, mailbox: CaptureServer
) -> None:
    env = worker_env(settings, practice)
    host_before = await practice.sql(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('app', 'notifier_host') ORDER BY 1, 2"
    )
    await notifier(["migrate", "--own-tables-only"], env)
    check = await asyncio.to_thread(run_notifier, ["check"], env)
    assert "CONTENT_DECODER decoder:decode loads" in check.stdout, check.stdout
    assert check.returncode == 0, check.stdout
    host = next(line for line in check.stdout.splitlines() if line.split()[1:2] == ["host"])
    # Every column present with a compatible type; the task jobs' write grants are not needed
    # with those jobs disabled.
    assert host.startswith(("ok", "warn")) and "lacks" not in host, host
    ids = await seed(practice)
    logs: list[str] = []

    assert (await tick("appointment_reminders", TUESDAY_8_PARIS, env, logs))["sent"] == 1
    assert (await tick("daily_digest", TUESDAY_8_PARIS, env, logs))["sent"] == 1
    messages = mailbox.messages
    assert {m.rcpt_tos[0] for m in messages} == {PRACTITIONER}
    reminder, digest = (next(m for m in messages if m.kind == k) for k in _KINDS)
    assert PATIENT in text_of(reminder) and "Osteopathy" in text_of(reminder)
    assert "09:00" in text_of(reminder)  # Paris time, the practice's zone
    assert PATIENT in text_of(digest)
    assert OTHER not in text_of(digest) and GONE not in text_of(digest)  # cancelled, deleted
    sealed = await practice.sql("SELECT name_sealed FROM app.patients")
    for row in sealed:
        assert all(row["name_sealed"] not in text_of(m) for m in messages)

    # The application cancels tomorrow's visit and moves the agenda to 09:30.
    await practice.sql(
        "UPDATE app.visits SET state = 'CANCELLED' WHERE id = $1", ids.tomorrow_visit
    )
    await practice.sql(
        "UPDATE app.account_preferences SET agenda_at = '09:30', updated_at = now() "
        "WHERE account_id = $1",
        ids.practitioner,
    )
    wednesday_8 = TUESDAY_8_PARIS + timedelta(days=1)
    assert (await tick("appointment_reminders", wednesday_8, env, logs))["sent"] == 0
    assert (await tick("daily_digest", wednesday_8, env, logs))["sent"] == 0
    wednesday_930 = wednesday_8 + timedelta(minutes=90)
    assert (await tick("daily_digest", wednesday_930, env, logs))["sent"] == 1
    assert len(mailbox.messages) == 3

    everything = "\n".join(logs)
    for secret in (PATIENT, OTHER, GONE, "Lemaire", KEY, *(r["name_sealed"] for r in sealed)):
        assert secret not in everything
    for line in filter(None, everything.splitlines()):
        json.loads(line)  # one JSON object a line
    host_after = await practice.sql(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('app', 'notifier_host') ORDER BY 1, 2"
    )
    assert host_after == host_before


_KINDS = ("appointment_reminder", "daily_digest")
