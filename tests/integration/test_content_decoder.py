"""``CONTENT_DECODER`` (contract section 12) against real PostgreSQL and a real SMTP server.

Every text value of section 1 is stored encoded (``tests.support.content_decoder``), so an
email that shows ``b64:`` names a column left undecoded. Three users: the control, whose
every kind arrives decoded on email and in-app; one whose name the decoder refuses (every
slot of theirs ``failed``, the reason naming ``users.full_name`` and never the value); one
with a client whose name decodes to a number (that appointment's reminder and the summaries
listing it fail; their notes reminder and task notices still go).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.schema import in_app_notifications, job_runs, reminders_sent
from notifier.jobs.runs import run_recorded
from tests.support.content_decoder import NOT_TEXT, PREFIX, REFUSED, encode
from tests.support.local_time_data import LocalTimeData
from tests.support.processes import run_notifier, service_env
from tests.support.smtp import Captured, CaptureServer
from tests.support.task_data import TaskData

SPEC = "tests.support.content_decoder:decode"
AT = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # a Monday
JOBS = (
    "appointment_reminders",
    "daily_digest",
    "weekly_report",
    "notes_reminders",
    "task_due_reminders",
    "task_reminders",
    "overdue_scanner",
)
AT_THE_TICK = {
    "digest_enabled": True,
    "digest_time": time(14, 0),
    "notes_reminder_enabled": True,
    "notes_reminder_time": time(14, 0),
    "weekly_report_enabled": True,
    "weekly_report_day": 1,
    "weekly_report_time": time(14, 0),
}
PLAIN = {
    "user": "Quenby Larkspur",
    "client": "Odalys Fenwright",
    "location": "Tamarisk Room",
    "service": "Kintsugi Counselling",
    "title": "Reconcile Wexford invoices",
    "description": "Bring the Harrowgate binder",
    "priority": "Saffron-urgent",
    "overdue": "Overdue Pellinore filing",
    "reminded": "Ring the Quillfeather lab",
}
# The words each kind's text part must show, decoded.
SHOWN = {
    "appointment_reminder": ("user", "client", "location", "service"),
    "daily_digest": ("user", "client", "location", "service", "title"),
    "weekly_report": ("user", "client", "title", "overdue"),
    "notes_reminder": ("user",),
    "task_due": ("user", "title", "description", "priority"),
    "task_reminder": ("user", "reminded"),
    "task_overdue": ("user", "overdue"),
}


@dataclass(frozen=True)
class People:
    control: uuid.UUID
    refused: uuid.UUID
    numbered: uuid.UUID
    numbered_appointment: uuid.UUID


class Seed(LocalTimeData, TaskData):
    """Host rows with every text value encoded."""

    async def person(self, email: str, name: str, *, client_name: str) -> uuid.UUID:
        workspace = await self.workspace(name=encode("Practice"))
        user = await self.user(workspace, email=email, full_name=name, settings=AT_THE_TICK)
        client = await self.client(workspace, full_name=client_name)
        await self.appointment(
            user,
            AT + timedelta(minutes=60),
            client_id=client,
            location=encode(PLAIN["location"]),
            service_name=encode(PLAIN["service"]),
        )
        await self.session(user)
        await self.task(
            user,
            AT + timedelta(hours=3),
            title=encode(PLAIN["title"]),
            description=encode(PLAIN["description"]),
            priority=encode(PLAIN["priority"]),
        )
        await self.task(user, AT - timedelta(hours=2), title=encode(PLAIN["overdue"]))
        reminded = await self.task(user, AT + timedelta(days=3), title=encode(PLAIN["reminded"]))
        await self.reminder(reminded, user, AT - timedelta(minutes=5))
        return user


async def seed(engine: Any) -> People:
    data = Seed(engine)
    control = await data.person(
        "control@practice.test", encode(PLAIN["user"]), client_name=encode(PLAIN["client"])
    )
    refused = await data.person(
        "refused@practice.test", REFUSED, client_name=encode(PLAIN["client"])
    )
    numbered = await data.person(
        "numbered@practice.test", encode(PLAIN["user"]), client_name=encode(PLAIN["client"])
    )
    # A second client of the numbered user's practice, whose name decodes to a number.
    workspace = await data.workspace_of(numbered)
    bad_client = await data.client(workspace, full_name=NOT_TEXT)
    bad = await data.appointment(
        numbered, AT + timedelta(minutes=60), client_id=bad_client, location=None
    )
    return People(control, refused, numbered, bad)


@pytest.fixture
async def decoding(settings: Settings) -> AsyncIterator[Services]:
    """Services with the test decoder loaded, on email and in-app by default."""
    configured = settings.model_copy(
        update={"content_decoder": SPEC, "default_channels": "email,in_app"}
    )
    services = open_services(configured, lambda: AT)
    yield services
    await close_services(services)


def text_of(message: Captured) -> str:
    """Subject and both parts, decoded from their transfer encoding."""
    parsed = message.parsed()
    parts = [str(parsed["Subject"])]
    for kind in ("plain", "html"):
        body = parsed.get_body(preferencelist=(kind,))
        assert body is not None
        parts.append(str(body.get_content()))
    return "\n".join(parts)


async def ledger(services: Services) -> list[Any]:
    r = reminders_sent.c
    stmt = select(r.kind, r.user_id, r.entity_id, r.channel, r.status, r.last_error)
    async with services.engine.connect() as conn:
        return list((await conn.execute(stmt)).mappings().all())


async def run_every_job(services: Services) -> None:
    for job in JOBS:
        await run_recorded(services, job, AT)


async def test_every_kind_shows_decoded_values_and_a_bad_value_costs_its_slot_alone(
    decoding: Services, mailbox: CaptureServer
) -> None:
    people = await seed(decoding.engine)
    await run_every_job(decoding)

    mine = [m for m in mailbox.messages if m.rcpt_tos == ["control@practice.test"]]
    assert {m.kind for m in mine} == set(SHOWN)
    for message in mine:
        text = text_of(message)
        assert PREFIX not in text, f"{message.kind} shows an encoded value"
        for word in SHOWN[message.kind]:
            assert PLAIN[word] in text, f"{message.kind} lacks the decoded {word}"

    rows = await ledger(decoding)
    refused = [row for row in rows if row["user_id"] == people.refused]
    assert refused and {row["status"] for row in refused} == {"failed"}
    for row in refused:
        assert row["last_error"] == "could not decode users.full_name: ValueError"
    assert not [m for m in mailbox.messages if m.rcpt_tos == ["refused@practice.test"]]

    numbered = {
        (row["kind"], row["entity_id"], row["channel"]): row
        for row in rows
        if row["user_id"] == people.numbered
    }
    bad = numbered[("appointment_reminder", people.numbered_appointment, "email")]
    reason = "could not decode clients.full_name: the decoder returned int"
    assert (bad["status"], bad["last_error"]) == ("failed", reason)
    for kind in ("daily_digest", "weekly_report"):
        assert numbered[(kind, people.numbered, "email")]["last_error"] == reason
    got = {m.kind for m in mailbox.messages if m.rcpt_tos == ["numbered@practice.test"]}
    assert got == {"appointment_reminder", "notes_reminder", "task_due", "task_reminder"} | {
        "task_overdue"
    }

    metrics = decoding.metrics.render().decode()
    everything = repr(rows) + repr(await _job_runs(decoding)) + metrics
    for value in (REFUSED, NOT_TEXT, "Vantablack", "Ossifrage", *PLAIN.values()):
        assert value not in everything


async def test_in_app_rows_carry_decoded_values(decoding: Services, mailbox: CaptureServer) -> None:
    people = await seed(decoding.engine)
    await run_every_job(decoding)
    n = in_app_notifications.c
    async with decoding.engine.connect() as conn:
        stmt = select(n.kind, n.title, n.body).where(n.user_id == people.control)
        rows = (await conn.execute(stmt)).mappings().all()
    assert {row["kind"] for row in rows} == set(SHOWN) - {"task_reminder"}  # own channel: email
    for row in rows:
        assert PREFIX not in row["title"] + row["body"], row["kind"]
    reminder = next(row for row in rows if row["kind"] == "appointment_reminder")
    assert PLAIN["client"] in reminder["title"] + reminder["body"]


async def _job_runs(services: Services) -> list[Any]:
    async with services.engine.connect() as conn:
        return list((await conn.execute(select(job_runs))).mappings().all())


async def test_preview_decodes_and_names_a_refused_value(
    settings: Settings, decoding: Services, tmp_path: Path
) -> None:
    people = await seed(decoding.engine)
    env = service_env(settings, CONTENT_DECODER=SPEC, PYTHONPATH=_repo_root())
    at = ["--at", AT.isoformat(), "--html", str(tmp_path / "preview.html")]
    shown = await asyncio.to_thread(
        run_notifier, ["preview", "appointment_reminder", "--user", str(people.control), *at], env
    )
    assert shown.returncode == 0, shown.stderr
    assert PLAIN["client"] in shown.stdout and PREFIX not in shown.stdout
    refused = await asyncio.to_thread(
        run_notifier, ["preview", "daily_digest", "--user", str(people.refused), *at], env
    )
    assert refused.returncode != 0
    assert "could not decode users.full_name: ValueError" in refused.stderr
    assert "Vantablack" not in refused.stdout + refused.stderr


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("tests.support.no_such_decoder:decode", "module 'tests.support.no_such_decoder'"),
        ("tests.support.content_decoder:missing", "has no 'missing'"),
        ("tests.support.content_decoder:PREFIX", "'PREFIX' is not callable"),
        ("tests.support.broken_decoder:decode", "raised RuntimeError"),
    ],
)
async def test_a_decoder_that_cannot_be_loaded_stops_the_process_at_start(
    settings: Settings, spec: str, said: str
) -> None:
    env = service_env(settings, CONTENT_DECODER=spec, PYTHONPATH=_repo_root())
    result = await asyncio.to_thread(run_notifier, ["run", "appointment_reminders"], env)
    assert result.returncode != 0
    assert f"notifier: CONTENT_DECODER {spec!r}" in result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    assert "Zanzibar" not in result.stderr  # broken_decoder's secret
    check = await asyncio.to_thread(run_notifier, ["check"], env)
    assert check.returncode != 0
    line = next(x for x in check.stdout.splitlines() if "decoder" in x)
    assert line.startswith("FAIL") and said in line and "Zanzibar" not in check.stdout


def _repo_root() -> str:
    """Where ``tests.support`` imports from in a subprocess run from another directory."""
    return str(Path(__file__).resolve().parents[2])
