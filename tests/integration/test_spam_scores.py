"""Every kind's email, as the worker sends it, scored by SpamAssassin's local rules.

Each message is rendered by the real ``EmailChannel.render`` (templates, section 10 headers,
one-click unsubscribe on the subscribed kinds) for a realistic user: names in several
scripts, a digest with 30 appointments, a weekly report with full task lists. SpamAssassin
(``scripts/install-spamassassin``; its absence fails the test) scores it with the rules the
Debian package ships, local tests only: ``--local`` and ``dns_available no`` turn off every
DNS and network test (blocklists, URI lookups, Razor, Pyzor, DCC, DKIM key fetches), Bayes
and auto-learning are off, and its home and user preferences are a throwaway folder. Each
kind must score below ``MAX_SCORE``; the rules that fired and their points are printed (``-s``)
and named in any failure.

What this cannot see: the relay's DKIM signature, SPF and DMARC (runbook, "Deliverability"),
and the sending IP's reputation. A message without any ``Received`` header gets no
``ALL_TRUSTED`` credit here (SpamAssassin grants it only when there are trusted relays).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from jinja2 import Environment

from notifier.channels.base import Delivery
from notifier.channels.email import EmailChannel
from notifier.channels.registry import email_setup
from notifier.config import Settings
from notifier.content.appointment_reminder import AppointmentFacts, reminder_context
from notifier.content.daily_digest import DayTasks, DigestFacts, digest_context
from notifier.content.mime import OutgoingMessage, build_message
from notifier.content.notes_reminder import notes_context
from notifier.content.render import make_environment
from notifier.content.summary import AppointmentLine, TaskLine
from notifier.content.task_notification import TaskFacts, task_context
from notifier.content.weekly_report import WeekFacts, weekly_context
from notifier.delivery.ledger import SlotKey
from notifier.delivery.smtp import SmtpOptions, SmtpPool
from notifier.paths import templates_dir
from notifier.rules.kinds import BY_NAME, KINDS
from notifier.timemath.zones import get_zone

MAX_SCORE = 2.0
# The rules the Debian package ships; pinned so that an ``sa-update`` run on a developer's
# machine cannot change what CI measures.
PACKAGE_RULES = Path("/usr/share/spamassassin")
# Rule families that need the network: none may fire, since none may run.
NETWORK_RULES = re.compile(r"^(RCVD_IN_|URIBL_|URI_DNSBL|RAZOR2_|PYZOR_|DCC_|DKIM_VALID|SPF_)")

# As a deployment configures it; the worker builds its email setup from these settings.
SETTINGS = Settings.model_validate(
    {
        "mail_from": "notifications@mail.harbourpractice.com",
        "public_base_url": "https://notify.harbourpractice.com",
        "secret_key": "d2b7c9e4f1a86305bc4e7f2a9d1c6b83",
        "app_base_url": "https://app.harbourpractice.com",
    }
)
APP = SETTINGS.app_base_url
USER_ID = uuid.UUID("3f0c1d52-6b1e-4f57-9d1a-5c8a0e7d2b11")
USER_NAME = "Zoë Ångström-Müller"
ADDRESS = "zoe.angstrom-muller@harbourpractice.com"
ZONE = get_zone("Europe/Zurich")
DAY = date(2026, 3, 10)  # a Tuesday
DUE = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)  # 07:00 in Zurich
NOW = DUE
PRIVACY_MODES = ("full", "subject", "minimal")  # CONTENT_PRIVACY, contract section 10

CLIENTS = (
    "Ελένη Παπαδοπούλου",
    "山田 花子",
    "François Lefèvre",
    "Søren Kierkegaard-Østergaard",
    "María José Núñez",
    "Łukasz Wróblewski",
    "Анна Смирнова",
    "O'Connor, Siobhán",
    "Nguyễn Thị Minh Khai",
    "Ahmed Al-Farsi",
)
SERVICES = (
    "Initial consultation (50 min)",
    "Follow-up session",
    "Erstgespräch",
    "Couples session (80 min)",
    None,
)
LOCATIONS = ("Praxis Müller, Königstrasse 12, Zürich", "Room 2", "Video call", None)
TASK_TITLES = (
    "Send intake forms to Ελένη Παπαδοπούλου",
    "Write up the assessment for 山田 花子",
    "Call the insurer about claim 2026-0311",
    "Renew the practice liability insurance",
    "Book supervision for next month",
    "Prepare the quarterly outcome measures",
    "Reply to François Lefèvre about rescheduling",
    "Update the consent form (version 4)",
)


def _id(n: int) -> str:
    return str(uuid.UUID(int=0x5EED0000_0000_4000_8000_000000000000 + n))


def _appointment(n: int, start: datetime) -> AppointmentLine:
    return AppointmentLine(
        appointment_id=_id(n),
        starts_at=start,
        client_name=CLIENTS[n % len(CLIENTS)],
        service_name=SERVICES[n % len(SERVICES)],
        location=LOCATIONS[n % len(LOCATIONS)],
    )


def _task(n: int, due: datetime | None) -> TaskLine:
    return TaskLine(
        task_id=_id(1000 + n),
        title=TASK_TITLES[n % len(TASK_TITLES)],
        priority=("high", "medium", "low", None)[n % 4],
        due_date=due,
    )


def appointment_reminder() -> dict[str, object]:
    facts = AppointmentFacts(
        appointment_id=_id(1),
        starts_at=NOW + timedelta(hours=24),
        client_name="Ελένη Παπαδοπούλου",
        service_name="Initial consultation (50 min)",
        location="Praxis Müller, Königstrasse 12, Zürich",
        user_name=USER_NAME,
    )
    return reminder_context(facts, ZONE, NOW, APP)


def daily_digest() -> dict[str, object]:
    start = datetime(2026, 3, 10, 6, 30, tzinfo=UTC)
    appointments = [_appointment(i, start + timedelta(minutes=20 * i)) for i in range(30)]
    due = [_task(i, DUE + timedelta(hours=2 + i)) for i in range(6)]
    facts = DigestFacts(appointments, tasks=DayTasks(due, len(due), overdue=3))
    return digest_context(
        user_name=USER_NAME, day=DAY, due=DUE, zone=ZONE, facts=facts, base_url=APP
    )


def weekly_report() -> dict[str, object]:
    cap = BY_NAME["weekly_report"].list_cap or 25
    start = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    appointments = [_appointment(i, start + timedelta(hours=5 * i)) for i in range(cap)]
    facts = WeekFacts(
        appointments=appointments,
        appointments_total=34,
        due=[_task(i, DUE + timedelta(hours=6 * i + 1)) for i in range(cap)],
        due_total=31,
        overdue=[_task(i + 3, DUE - timedelta(days=1, hours=i)) for i in range(12)],
        overdue_total=12,
        completed=[_task(i + 5, DUE - timedelta(days=2, hours=i)) for i in range(cap)],
        completed_total=40,
    )
    return weekly_context(
        user_name=USER_NAME, day=DAY, due=DUE, zone=ZONE, facts=facts, base_url=APP
    )


def notes_reminder() -> dict[str, object]:
    return notes_context(
        user_name=USER_NAME, day=DAY, due=DUE, zone=ZONE, draft_count=4, base_url=APP
    )


def _task_facts(due: datetime) -> TaskFacts:
    return TaskFacts(
        task_id=_id(2000),
        title="Write up the assessment for 山田 花子",
        description="Include the GAD-7 and PHQ-9 scores.\nSend a copy to Dr. Ålund.",
        priority="high",
        due_date=due,
        user_name=USER_NAME,
    )


def task_due() -> dict[str, object]:
    return task_context(_task_facts(NOW + timedelta(hours=3)), ZONE, NOW, APP)


def task_reminder() -> dict[str, object]:
    return task_context(_task_facts(NOW + timedelta(days=2)), ZONE, NOW, APP)


def task_overdue() -> dict[str, object]:
    return task_context(_task_facts(NOW - timedelta(hours=5)), ZONE, NOW, APP)


CONTEXTS: dict[str, Callable[[], dict[str, object]]] = {
    "appointment_reminder": appointment_reminder,
    "daily_digest": daily_digest,
    "weekly_report": weekly_report,
    "notes_reminder": notes_reminder,
    "task_due": task_due,
    "task_reminder": task_reminder,
    "task_overdue": task_overdue,
}


def test_every_kind_is_scored() -> None:
    assert set(CONTEXTS) == {kind.name for kind in KINDS}


@cache
def channel(privacy: str) -> EmailChannel:
    """The worker's email channel, built from the settings as ``build_channels`` builds it."""
    settings = SETTINGS.model_copy(update={"content_privacy": privacy})
    templates: Environment = make_environment(templates_dir())
    # Never used: rendering needs no connection.
    smtp = SmtpPool(SmtpOptions("localhost", 25, None, None, False, False, 30.0, 1))
    return EmailChannel(email_setup(settings), templates, smtp, lambda: NOW + timedelta(seconds=2))


def rendered(channel: EmailChannel, kind: str) -> bytes:
    entity = USER_ID if BY_NAME[kind].entity == "user" else uuid.UUID(_id(1))
    slot = datetime(2026, 3, 10, tzinfo=UTC) if BY_NAME[kind].entity == "user" else DUE
    key = SlotKey(kind, entity, USER_ID, slot)
    delivery = Delivery(key, ADDRESS, CONTEXTS[kind](), NOW + timedelta(hours=1))
    return channel.render(delivery, channel.ident(key))


@dataclass(frozen=True)
class Verdict:
    """SpamAssassin's score, the rules that fired with their points, and its report table."""

    score: float
    rules: dict[str, float]
    report: str

    def summary(self) -> str:
        fired = ", ".join(f"{name} {points:+.3f}" for name, points in self.rules.items())
        return f"score {self.score:.3f} ({fired or 'no rule fired'})"


@pytest.fixture(scope="module")
def spamassassin(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bytes], Verdict]:
    """Scores a message with local rules only, in a throwaway home."""
    binary = shutil.which("spamassassin")
    assert binary, "spamassassin not found: run scripts/install-spamassassin"
    home = tmp_path_factory.mktemp("spamassassin-home")
    prefs = home / "user_prefs"
    prefs.write_text("")
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    settings = (
        "dns_available no",
        "use_bayes 0",
        "bayes_auto_learn 0",
        "add_header all Score _SCORE_",
        "add_header all Tests _TESTSSCORES(,)_",
    )
    command = [binary, "--local", "--test-mode", "--nocreate-prefs", f"--prefspath={prefs}"]
    if PACKAGE_RULES.is_dir():
        command.append(f"--configpath={PACKAGE_RULES}")
    command += [f"--cf={line}" for line in settings]

    def score(message: bytes) -> Verdict:
        done = subprocess.run(
            command, input=message, capture_output=True, env=env, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return parse(done.stdout.decode("utf-8", errors="replace"))

    return score


def _header(headers: str, name: str) -> str:
    found = re.search(rf"^{name}:(.*(?:\r?\n[ \t].*)*)", headers, re.MULTILINE)
    assert found, f"SpamAssassin added no {name} header"
    return " ".join(found.group(1).split())


def parse(output: str) -> Verdict:
    """The verdict from the headers SpamAssassin adds and the report it appends."""
    headers = re.split(r"\r?\n\r?\n", output, maxsplit=1)[0]
    tests = _header(headers, "X-Spam-Tests").replace(" ", "")
    rules = {
        name: float(points)
        for name, points in (item.split("=", 1) for item in tests.split(",") if "=" in item)
    }
    score = round(sum(rules.values()), 3)  # the header's score has one decimal only
    assert abs(score - float(_header(headers, "X-Spam-Score"))) < 0.06, headers
    table = re.search(r"Content analysis details:.*?\n-{4} -+ -+\n.*?(?:\n\n|\Z)", output, re.S)
    return Verdict(score, rules, table.group(0).strip() if table else "")


@pytest.mark.parametrize("privacy", PRIVACY_MODES)
@pytest.mark.parametrize("kind", list(CONTEXTS))
def test_each_kind_scores_low_with_spamassassin(
    kind: str, privacy: str, spamassassin: Callable[[bytes], Verdict]
) -> None:
    message = rendered(channel(privacy), kind)
    if BY_NAME[kind].subscribed:  # the deliverability headers this suite exists to check
        assert b"\r\nList-Unsubscribe: <https://notify.harbourpractice.com/" in message
        assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in message
    verdict = spamassassin(message)
    print(f"\n{kind} (CONTENT_PRIVACY={privacy}): {verdict.summary()}\n{verdict.report}")
    network = [name for name in verdict.rules if NETWORK_RULES.match(name)]
    assert not network, f"{kind}: network rules ran: {network}"
    assert verdict.score < MAX_SCORE, f"{kind} ({privacy}): {verdict.summary()}\n{verdict.report}"


def test_the_check_can_fail(spamassassin: Callable[[bytes], Verdict]) -> None:
    """A spammy message in the worker's own MIME form (base64 UTF-8 parts) scores high: the
    rules read our parts, and the threshold above means something."""
    text = (
        "Dear Friend,\n\nCONGRATULATIONS!!! You have been SELECTED to receive a 100% FREE gift "
        "card worth $500!!! Act now! Click here: http://bit.ly/claim-now\n\nRisk free, "
        "guaranteed income!\n\nTo be removed from our mailing list reply with REMOVE.\n"
    )
    message = OutgoingMessage(
        from_addr=SETTINGS.mail_from,
        to_addr=ADDRESS,
        subject="FREE!!! CLAIM YOUR $500 GIFT CARD NOW!!!",
        text=text,
        html="<p>" + text.replace("\n", "<br>") + "</p>",
        message_id=f"<{uuid.uuid4().hex}@mail.harbourpractice.com>",
        kind="daily_digest",
        date=NOW,
    )
    verdict = spamassassin(build_message(message))
    print(f"\nspam control: {verdict.summary()}")
    assert verdict.score >= MAX_SCORE and "DEAR_FRIEND" in verdict.rules, verdict.summary()
