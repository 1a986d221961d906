"""Logs carry ids and counts only: no name, address, title, place or other content of the data.

Every registered job ticks as a real ``notifier run`` process at DEBUG level over data full of
distinctive words, including the rows that take the failure paths (a malformed address, an
unknown zone, a refused recipient, a bad recurrence rule), and its stderr is searched for
them. The emails prove the words were really read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from notifier.app import Services
from notifier.config import Settings
from notifier.db.schema import job_runs, reminders_sent
from notifier.jobs.registry import tick_functions
from tests.support.content_decoder import PREFIX, REFUSED, encode
from tests.support.local_time_data import LocalTimeData
from tests.support.processes import run_notifier, service_env
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData

AT = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
WORDS = {
    "workspace": "Quokkaville Practice",
    "user": "Quillon Vexmoor",
    "email": "quillon.vexmoor@zebrafinch.example",
    "bad_email": "not-an-address-pelzbrook",
    "refused": "refused.trasko@zebrafinch.example",
    "zone": "Mars/Olympus_Vexmoor",
    "client": "Brannagh Ostrowicz",
    "location": "Yewdale Pavilion",
    "service": "Ozymandine Therapy",
    "title": "Reconcile Xanthippe ledger",
    "description": "Marmalade kestrel notes",
    "tag": "tag-vorpalblade",
    "recurring": "Zorblatt quarterly review",
    "rule": "FREQ=GRIBBLEWEEKLY",
}
EVERY_DAY_AT_TICK = {
    "digest_enabled": True,
    "digest_time": time(14, 0),
    "notes_reminder_enabled": True,
    "notes_reminder_time": time(14, 0),
}


def _stored(text: str) -> str:
    return text


async def seed(services: Services, stored: Callable[[str], str] = _stored) -> None:
    """Every word in every host column that may carry it, written through ``stored`` (the
    host's own encoding of its text columns)."""
    tasks, local = TaskData(services.engine), LocalTimeData(services.engine)
    workspace = await tasks.workspace(name=WORDS["workspace"])
    client = await tasks.client(workspace, full_name=stored(WORDS["client"]))
    people = [
        await tasks.user(
            workspace,
            email=email,
            full_name=stored(WORDS["user"]),
            timezone=zone,
            settings=EVERY_DAY_AT_TICK,
        )
        for email, zone in (
            (WORDS["email"], None),
            (WORDS["bad_email"], None),
            (WORDS["refused"], None),
            (WORDS["email"], WORDS["zone"]),
        )
    ]
    for user in people:
        await tasks.appointment(
            user,
            AT + timedelta(minutes=60),
            client_id=client,
            location=stored(WORDS["location"]),
            service_name=stored(WORDS["service"]),
        )
        await local.session(user)
        for due in (AT + timedelta(hours=3), AT - timedelta(hours=2), AT + timedelta(days=3)):
            task = await tasks.task(
                user,
                due,
                title=stored(WORDS["title"]),
                description=stored(WORDS["description"]),
                tags=[WORDS["tag"]],
            )
        await tasks.reminder(task, user, AT - timedelta(minutes=5))
        for rule in (None, WORDS["rule"]):
            await tasks.task(
                user,
                AT - timedelta(days=1),
                title=stored(WORDS["recurring"]),
                completed=True,
                completed_at=AT - timedelta(hours=1),
                status="completed",
                is_recurring=True,
                recurrence_type="custom" if rule else "weekly",
                recurrence_rule=rule,
            )


async def test_no_content_of_the_data_reaches_the_logs(
    services: Services, settings: Settings, mailbox: CaptureServer
) -> None:
    await seed(services)
    mailbox.handler.reject.add(WORDS["refused"])
    env = service_env(settings, LOG_LEVEL="DEBUG")
    stderr = []
    for job in sorted(tick_functions()):
        result = await asyncio.to_thread(run_notifier, ["run", job, "--at", AT.isoformat()], env)
        assert result.returncode == 0, result.stderr
        stderr.append(result.stderr)
        for line in result.stderr.splitlines():
            json.loads(line)  # one JSON object a line
        assert not _found(result.stdout), result.stdout
    logs = "\n".join(stderr)

    leaked = _found(logs)
    assert not leaked, f"data in the logs: {leaked}"
    events = [json.loads(line)["event"] for line in logs.splitlines() if line]
    for path in ("tick_finished", "slot_failed", "send_not_done", "recurrence_failed"):
        assert path in events, f"no {path} logged: the failure paths were not exercised"
    kinds = {m.kind for m in mailbox.messages}
    assert kinds >= {"appointment_reminder", "daily_digest", "notes_reminder", "task_due"}
    assert kinds >= {"task_reminder", "task_overdue"}
    sent = "\n".join(m.data.decode("utf-8", "replace") for m in mailbox.messages)
    assert WORDS["email"] in sent and WORDS["user"] in _decoded(mailbox)


async def test_decoded_values_never_reach_the_logs(
    services: Services, settings: Settings, mailbox: CaptureServer
) -> None:
    """The same, with the host's values stored encoded and a ``CONTENT_DECODER``: the emails
    show the decoded words, the logs and ``job_runs`` none of them; a value the decoder
    refuses (its exception quoting the value) is failed by id without the value."""
    await seed(services, encode)
    refused = await TaskData(services.engine).user(email=WORDS["email"], full_name=REFUSED)
    await TaskData(services.engine).task(refused, AT + timedelta(hours=3), title=REFUSED)
    env = service_env(
        settings,
        LOG_LEVEL="DEBUG",
        CONTENT_DECODER="tests.support.content_decoder:decode",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    logs = await _run_every_job(env)

    leaked = _found(logs) + [word for word in ("Vantablack", PREFIX) if word in logs]
    assert not leaked, f"data in the logs: {leaked}"
    assert "slot_failed" in logs
    async with services.engine.connect() as conn:
        runs = repr((await conn.execute(select(job_runs))).all())
        errors = repr((await conn.execute(select(reminders_sent.c.last_error))).all())
    decoded_words = [WORDS[k] for k in ("user", "client", "location", "service", "title")]
    for word in (*decoded_words, WORDS["description"], WORDS["recurring"], "Vantablack"):
        assert word not in runs + errors
    assert "could not decode tasks.title: ValueError" in errors
    decoded = _decoded(mailbox)
    assert WORDS["user"] in decoded and WORDS["client"] in decoded and PREFIX not in decoded


async def _run_every_job(env: dict[str, str]) -> str:
    """Every registered job's tick as ``notifier run`` at ``AT``; their stderr, checked to be
    one JSON object a line."""
    stderr = []
    for job in sorted(tick_functions()):
        result = await asyncio.to_thread(run_notifier, ["run", job, "--at", AT.isoformat()], env)
        assert result.returncode == 0, result.stderr
        for line in result.stderr.splitlines():
            json.loads(line)
        assert not _found(result.stdout), result.stdout
        stderr.append(result.stderr)
    return "\n".join(stderr)


def _found(text: str) -> list[str]:
    lowered = text.lower()
    return [word for word in WORDS.values() if word.lower() in lowered]


def _decoded(mailbox: CaptureServer) -> str:
    """The text parts, decoded (bodies travel base64-encoded)."""
    parts = []
    for message in mailbox.messages:
        body = message.parsed().get_body(preferencelist=("plain",))
        assert body is not None
        parts.append(str(body.get_content()))
    return "\n".join(parts)
