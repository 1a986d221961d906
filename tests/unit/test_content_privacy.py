"""``CONTENT_PRIVACY`` (contract section 10): what each channel shows of every kind, per mode.

Every kind is rendered through the real channel objects that ``channels.registry`` builds from
the settings, with sentinel values in every field that may name a person or a task, and each
surface is searched for them: ``subject`` keeps the client's name off the lock-screen surfaces
(email subject, in-app title, webhook text), ``minimal`` keeps names, services, locations and
task titles, descriptions and priorities off every surface. ``full`` must still show them, so
a template that never printed them cannot pass for private.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from functools import cache
from pathlib import Path

import pytest
from jinja2 import Environment

from notifier.app import smtp_options
from notifier.channels.base import Channel, Delivery
from notifier.channels.email import email_parts
from notifier.channels.registry import build_channels, email_setup, webhook_options
from notifier.config import Settings
from notifier.content.appointment_reminder import AppointmentFacts, reminder_context
from notifier.content.daily_digest import DayTasks, DigestFacts, digest_context
from notifier.content.notes_reminder import notes_context
from notifier.content.render import (
    Privacy,
    ShortContent,
    make_environment,
    render,
    render_short,
)
from notifier.content.summary import AppointmentLine, TaskLine
from notifier.content.task_notification import TaskFacts, task_context
from notifier.content.weekly_report import WeekFacts, weekly_context
from notifier.delivery.ledger import SlotKey
from notifier.delivery.smtp import SmtpPool
from notifier.delivery.webhook import WebhookClient
from notifier.paths import templates_dir
from notifier.timemath.zones import get_zone

CLIENT = "CLIENTSENTINEL"
SERVICE = "SERVICESENTINEL"
LOCATION = "LOCATIONSENTINEL"
TITLE = "TITLESENTINEL"
DESCRIPTION = "DESCSENTINEL"
PRIORITY = "PRIORITYSENTINEL"  # free text in the host's schema: minimal leaves it out too
EVERY_SENTINEL = (CLIENT, SERVICE, LOCATION, TITLE, DESCRIPTION, PRIORITY)
APPOINTMENT_FIELDS = (CLIENT, SERVICE, LOCATION)
TASK_FIELDS = (TITLE, DESCRIPTION, PRIORITY)

MODES: tuple[Privacy, ...] = ("full", "subject", "minimal")
CHANNELS = ("email", "in_app", "webhook")
BERLIN = get_zone("Europe/Berlin")
NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (CET)
DAY = date(2026, 3, 10)
BASE = "https://app.test"
USER_NAME = "Robin <b>Own</b>"  # the user's own greeting stays, escaped in HTML
USER = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
ENTITY = uuid.UUID("00000000-0000-0000-0000-0000000000e1")
SECRET = "whsec_" + base64.b64encode(b"content-privacy-test-key-32bytes").decode()
ADDRESSES = {"email": "robin@example.com", "in_app": None, "webhook": "https://hooks.test/x"}


def _appointment(i: int, starts_at: datetime) -> AppointmentLine:
    return AppointmentLine(f"a{i}", starts_at, CLIENT, SERVICE, LOCATION)


def _task(i: int, due: datetime | None) -> TaskLine:
    return TaskLine(f"t{i}", TITLE, PRIORITY, due)


def _task_context(due: datetime | None) -> dict[str, object]:
    facts = TaskFacts("t1", TITLE, DESCRIPTION, PRIORITY, due, USER_NAME)
    return task_context(facts, BERLIN, NOW, BASE)


def _digest() -> dict[str, object]:
    appointments = [_appointment(i, NOW + timedelta(hours=i + 1)) for i in range(2)]
    tasks = [_task(0, NOW - timedelta(hours=1)), _task(1, NOW + timedelta(hours=3))]
    facts = DigestFacts(appointments, 3, DayTasks(tasks, 3, 1))
    return digest_context(
        user_name=USER_NAME, day=DAY, due=NOW, zone=BERLIN, facts=facts, base_url=BASE
    )


def _weekly() -> dict[str, object]:
    appointments = [_appointment(i, NOW + timedelta(days=i)) for i in range(2)]
    tasks = [_task(0, NOW - timedelta(days=1)), _task(1, NOW + timedelta(days=2))]
    facts = WeekFacts(appointments, 3, tasks, 2, tasks[:1], 1, tasks, 4)
    return weekly_context(
        user_name=USER_NAME, day=DAY, due=NOW, zone=BERLIN, facts=facts, base_url=BASE
    )


@dataclass(frozen=True)
class Case:
    """One kind's context, and the sentinels ``full`` shows in the email and the short form."""

    kind: str
    context: Mapping[str, object]
    in_email: tuple[str, ...]
    in_short: tuple[str, ...]


def _cases() -> dict[str, Case]:
    appointment = AppointmentFacts("a1", NOW + timedelta(hours=1), CLIENT, SERVICE, LOCATION, None)
    notes = notes_context(
        user_name=USER_NAME, day=DAY, due=NOW, zone=BERLIN, draft_count=2, base_url=BASE
    )
    summary_email = (*APPOINTMENT_FIELDS, TITLE, PRIORITY)
    return {
        "appointment_reminder": Case(
            "appointment_reminder",
            {**reminder_context(appointment, BERLIN, NOW, BASE), "user_name": USER_NAME},
            APPOINTMENT_FIELDS,
            APPOINTMENT_FIELDS,
        ),
        "daily_digest": Case("daily_digest", _digest(), summary_email, APPOINTMENT_FIELDS),
        "weekly_report": Case("weekly_report", _weekly(), summary_email, ()),
        "notes_reminder": Case("notes_reminder", notes, (), ()),
        "task_due": Case(
            "task_due", _task_context(NOW + timedelta(hours=3)), TASK_FIELDS, (TITLE,)
        ),
        "task_reminder": Case(
            "task_reminder", _task_context(NOW + timedelta(days=2)), TASK_FIELDS, (TITLE,)
        ),
        "task_reminder_undated": Case("task_reminder", _task_context(None), TASK_FIELDS, (TITLE,)),
        "task_overdue": Case(
            "task_overdue", _task_context(NOW - timedelta(hours=3)), TASK_FIELDS, (TITLE,)
        ),
    }


CASES = _cases()


def _settings(privacy: Privacy) -> Settings:
    return Settings(
        content_privacy=privacy,
        webhook_secret=SECRET,
        mail_from="notifier@example.com",
        app_base_url=BASE,
    )


@cache
def _channels(privacy: Privacy) -> Mapping[str, Channel]:
    """The channels as a worker with ``CONTENT_PRIVACY=privacy`` builds them (nothing connects:
    only ``render`` is called)."""
    settings = _settings(privacy)
    smtp = SmtpPool(smtp_options(settings))
    webhooks = WebhookClient(webhook_options(settings))
    return build_channels(settings, _env(), smtp, webhooks, lambda: NOW)


@cache
def _env() -> Environment:
    return make_environment(templates_dir())


@dataclass(frozen=True)
class Surfaces:
    """What one channel shows: ``headline`` is what a lock screen or a chat preview shows."""

    headline: dict[str, str]
    rest: dict[str, str]

    def everything(self) -> dict[str, str]:
        return {**self.headline, **self.rest}


def _email_surfaces(payload: bytes) -> Surfaces:
    """The subject and both parts, decoded as a mail client would."""
    message = BytesParser(policy=policy.default).parsebytes(payload)
    assert isinstance(message, EmailMessage)
    parts = {}
    for subtype in ("plain", "html"):
        part = message.get_body((subtype,))
        assert part is not None, subtype
        parts[subtype] = str(part.get_content())
    return Surfaces({"subject": str(message["subject"])}, parts)


def _short_surfaces(channel: str, payload: object) -> Surfaces:
    if channel == "in_app":
        assert isinstance(payload, ShortContent)
        return Surfaces({"title": payload.title}, {"body": payload.body, "url": payload.url or ""})
    assert isinstance(payload, bytes)
    post = json.loads(payload)
    headline = {"text": post["text"], "title": post["title"]}
    return Surfaces(headline, {"body": post["body"], "url": post["url"] or ""})


def _render(case: Case, channel: str, privacy: Privacy) -> Surfaces:
    """``case`` rendered by the ``channel`` object a worker in ``privacy`` mode would use."""
    key = SlotKey(case.kind, ENTITY, USER, NOW, channel)
    delivery = Delivery(key, ADDRESSES[channel], case.context, NOW + timedelta(hours=1))
    target = _channels(privacy)[channel]
    payload = target.render(delivery, target.ident(key))
    if channel == "email":
        return _email_surfaces(payload)
    return _short_surfaces(channel, payload)


def _leaks(surfaces: dict[str, str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {name: [s for s in forbidden if s in value] for name, value in surfaces.items()}
    return {name: hits for name, hits in found.items() if hits}


@pytest.mark.parametrize("privacy", MODES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("case", CASES)
def test_nothing_the_mode_forbids_shows(case: str, channel: str, privacy: Privacy) -> None:
    surfaces = _render(CASES[case], channel, privacy)
    headline_forbidden = {"full": (), "subject": (CLIENT,), "minimal": EVERY_SENTINEL}[privacy]
    everywhere_forbidden = EVERY_SENTINEL if privacy == "minimal" else ()
    assert _leaks(surfaces.headline, headline_forbidden) == {}
    assert _leaks(surfaces.everything(), everywhere_forbidden) == {}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("case", CASES)
def test_full_still_shows_the_names(case: str, channel: str) -> None:
    """The check above can fail: in ``full`` the same renders carry the sentinels."""
    expected = CASES[case].in_email if channel == "email" else CASES[case].in_short
    shown = "\n".join(_render(CASES[case], channel, "full").everything().values())
    assert [s for s in expected if s not in shown] == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_subject_mode_moves_the_client_from_the_headline_into_the_body(channel: str) -> None:
    case = CASES["appointment_reminder"]
    full = _render(case, channel, "full")
    subject = _render(case, channel, "subject")
    assert all(CLIENT in value for value in full.headline.values())
    assert all(CLIENT not in value for value in subject.headline.values())
    assert any(CLIENT in value for value in subject.rest.values())  # bodies may name the client
    assert [v.split(" (")[0] for v in subject.headline.values()] == len(subject.headline) * [
        "Reminder: appointment in 1 hour"
    ]


@pytest.mark.parametrize("privacy", MODES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("case", CASES)
def test_every_mode_still_reads(case: str, channel: str, privacy: Privacy) -> None:
    """A headline, a body and a link into the app in every mode; no template left unfilled."""
    surfaces = _render(CASES[case], channel, privacy)
    for name, value in surfaces.everything().items():
        assert "{{" not in value and "{%" not in value and "None" not in value, (name, value)
    for name, value in surfaces.headline.items():
        assert len(value.strip()) >= 10, (name, value)
    assert BASE in "\n".join(surfaces.rest.values())
    if channel == "email":
        assert surfaces.rest["plain"].startswith(f"Hello {USER_NAME},")
        assert "Hello Robin &lt;b&gt;Own&lt;/b&gt;," in surfaces.rest["html"]
        assert "<b>Own" not in surfaces.rest["html"]
    else:
        assert surfaces.rest["body"].strip() and surfaces.rest["url"].startswith(BASE)


def test_minimal_says_what_kind_of_thing_is_due_and_when() -> None:
    appointment = _render(CASES["appointment_reminder"], "in_app", "minimal")
    assert appointment.headline["title"] == "Reminder: appointment in 1 hour (Tue 10 Mar, 10:00)"
    assert appointment.rest["body"] == (
        "Appointment at Tuesday 10 March 2026, 10:00 (Europe/Berlin, CET), in 1 hour."
    )
    task = _render(CASES["task_due"], "email", "minimal")
    assert task.headline["subject"] == "A task is due in 3 hours (Tue 10 Mar, 12:00)"
    assert "A task is due in 3 hours." in task.rest["plain"]
    assert f"Open it: {BASE}/tasks/t1" in task.rest["plain"]
    digest = _render(CASES["daily_digest"], "email", "minimal").rest["plain"]
    assert f"10:00  Appointment: {BASE}/appointments/a0" in digest
    assert f"- Task due Tue 10 Mar 08:00, past due: {BASE}/tasks/t0" in digest
    report = _render(CASES["weekly_report"], "email", "minimal").rest["plain"]
    assert f"- Wed 11 Mar 09:00  Appointment: {BASE}/appointments/a1" in report


@pytest.mark.parametrize("privacy", MODES)
def test_preview_renders_in_the_configured_mode(privacy: Privacy) -> None:
    """``notifier preview`` renders through ``email_parts(email_setup(settings), ...)``: the
    mode comes with the setup, so the preview is what the email channel sends."""
    setup = email_setup(_settings(privacy))
    assert setup.privacy == privacy
    case = CASES["appointment_reminder"]
    key = SlotKey(case.kind, ENTITY, USER, NOW)
    content = email_parts(setup, _env(), key, case.context).content
    assert (CLIENT in content.subject) == (privacy == "full")
    assert (CLIENT in content.text) == (privacy != "minimal")


def test_rendering_leaves_the_callers_context_alone() -> None:
    context = dict(CASES["task_due"].context)
    before = dict(context)
    render_short(_env(), "task_due", context, privacy="minimal")
    render(_env(), "task_due", context, "minimal")
    assert context == before


def test_render_without_a_mode_is_full() -> None:
    case = CASES["appointment_reminder"]
    assert render(_env(), case.kind, case.context) == render(
        _env(), case.kind, case.context, "full"
    )


def test_every_kind_has_a_case() -> None:
    kinds = {path.parent.name for path in Path(templates_dir()).glob("*/subject.txt")}
    assert kinds == {case.kind for case in CASES.values()}
