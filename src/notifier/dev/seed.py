"""The demo workspace ``notifier dev`` seeds: rows built from ``now``, and what to expect.

Pure: no I/O, the instant is passed in, so tests can check the timing for any ``now``. Every
row lives in (or belongs to a user of) the workspace ``DEMO_WORKSPACE_ID``: that fixed id is
how dev mode tells its own data from anybody else's, when re-seeding and when refusing a
database that holds real data.

Timing: arq runs every cron once at start in dev mode, then every minute. Slots due at the
current whole minute (``start``) go out with that first run; slots due at the next whole minute
(``soon``) go out with the first minute tick. Both fall inside the first two minutes.

Channels: most demo users get email (``DEFAULT_CHANNELS``); one user's kinds go in-app only
and one user's to a webhook only, by ``notification_preferences`` rows, so the inbox shows all
three channels. ``expected`` lists every delivery with its channel; the webhook user's posts
are expected only when a ``webhook_url`` is given (without one their slots are skipped).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notifier.rules.kinds import EMAIL, IN_APP, JOB_KINDS, WEBHOOK
from notifier.timemath.zones import get_zone, local_to_utc

DEMO_WORKSPACE_ID = uuid.UUID("de000000-0000-4000-8000-000000000001")
_NAMESPACE = uuid.UUID("de000000-0000-4000-8000-0000000000ff")
WORKSPACE_ZONE = "America/New_York"
WORKSPACE_NAME = "Demo Practice (notifier dev)"


# Client names with markup, so the inbox shows that values are escaped, not rendered.
BOLD_CLIENT = "Sam <b>Bold</b> Tester"
SCRIPT_CLIENT = "Jordan <script>alert('demo')</script> Lee"


def demo_id(label: str) -> uuid.UUID:
    """Stable ids, so a re-seed replaces the same rows and messages are easy to trace."""
    return uuid.uuid5(_NAMESPACE, label)


@dataclass(frozen=True)
class ExpectedDelivery:
    """A delivery the demo will produce in its first two minutes, on one channel.

    ``to`` is the recipient's email address on every channel: it names the person (an in-app
    row or a webhook post carries their user id, which ``Demo.user_ids`` maps back).
    """

    job: str
    kind: str
    to: str
    due: datetime
    about: str
    channel: str = EMAIL


@dataclass(frozen=True)
class Person:
    """A demo user as the banner describes them."""

    name: str
    email: str
    zone: str
    story: str


@dataclass
class Demo:
    """Rows per table name, in no particular order (the writer knows the insert order)."""

    now: datetime
    start: datetime
    soon: datetime
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    expected: list[ExpectedDelivery] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)

    def add(self, table: str, label: str, **values: Any) -> uuid.UUID:
        """Adds one row with a stable id derived from ``label``."""
        row_id = demo_id(label)
        self.rows.setdefault(table, []).append({"id": row_id, **values})
        return row_id

    def expect(self, job: str, to: str, due: datetime, about: str, channel: str = EMAIL) -> None:
        kind = JOB_KINDS[job]
        assert kind is not None, job
        self.expected.append(ExpectedDelivery(job, kind, to, due, about, channel))

    def expected_on(self, channel: str) -> list[ExpectedDelivery]:
        """The expected deliveries of one channel (the inbox shows each channel apart)."""
        return [item for item in self.expected if item.channel == channel]

    def user_ids(self) -> dict[str, uuid.UUID]:
        """Email address to user id, to match in-app rows and webhook posts to people."""
        return {row["email"]: row["id"] for row in self.rows.get("users", [])}

    def counts(self) -> dict[str, int]:
        """Rows seeded per table, for the banner."""
        return {table: len(rows) for table, rows in self.rows.items()}


def build_demo(now: datetime, webhook_url: str | None = None) -> Demo:
    """The whole demo for a dev run starting at ``now`` (timezone-aware).

    ``webhook_url`` is where the webhook user's posts go: dev mode passes its local receiver's
    address, which is only known once it listens, so the seed stays pure.
    """
    start = now.astimezone(UTC).replace(second=0, microsecond=0)
    demo = Demo(now=now, start=start, soon=start + timedelta(minutes=1))
    demo.rows["workspaces"] = [
        {"id": DEMO_WORKSPACE_ID, "name": WORKSPACE_NAME, "timezone": WORKSPACE_ZONE}
    ]
    clients = _clients(demo)
    _ana(demo, clients)
    _bikash(demo, clients)
    _teuila(demo)
    _dana(demo)
    _lea(demo, clients)
    _rangi(demo, clients, webhook_url)
    return demo


def _clients(demo: Demo) -> dict[str, uuid.UUID]:
    names = {
        "bold": BOLD_CLIENT,
        "script": SCRIPT_CLIENT,
        "mia": "Mia Chen",
        "noah": "Noah Williams",
    }
    return {
        key: demo.add("clients", f"client:{key}", workspace_id=DEMO_WORKSPACE_ID, full_name=name)
        for key, name in names.items()
    }


def _user(demo: Demo, key: str, person: Person, own_zone: bool, **settings: Any) -> uuid.UUID:
    """A user of the demo workspace with a settings row; ``own_zone`` False uses the workspace's."""
    user_id = demo.add(
        "users",
        f"user:{key}",
        workspace_id=DEMO_WORKSPACE_ID,
        email=person.email,
        full_name=person.name,
        timezone=person.zone if own_zone else None,
        is_active=True,
    )
    demo.rows.setdefault("notification_settings", []).append({"user_id": user_id, **settings})
    demo.people.append(person)
    return user_id


def _appointment(
    demo: Demo,
    label: str,
    user_id: uuid.UUID,
    client_id: uuid.UUID,
    starts_at: datetime,
    **extra: Any,
) -> None:
    values: dict[str, Any] = {
        "status": "scheduled",
        "location": "Room 2",
        "service_name": "Session",
    }
    values.update(extra)
    demo.add(
        "appointments",
        label,
        workspace_id=DEMO_WORKSPACE_ID,
        user_id=user_id,
        client_id=client_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=50),
        **values,
    )


def _ana(demo: Demo, clients: dict[str, uuid.UUID]) -> None:
    """Appointment reminders 15 and 60 minutes ahead, in the workspace's zone."""
    person = Person(
        "Ana Ortiz",
        "ana.ortiz@example.com",
        WORKSPACE_ZONE,
        "workspace zone; reminders 15 and 60 min before; 3 appointments, 1 cancelled",
    )
    user = _user(demo, "ana", person, own_zone=False, appointment_reminder_minutes=[15, 60])
    first, second = demo.start + timedelta(minutes=60), demo.start + timedelta(minutes=15)
    _appointment(demo, "appointment:ana:1", user, clients["bold"], first, service_name="Intake")
    _appointment(demo, "appointment:ana:2", user, clients["script"], second, location="Video call")
    _appointment(demo, "appointment:ana:3", user, clients["mia"], first, status="cancelled")
    demo.expect("appointment_reminders", person.email, demo.start, "60 min before the intake")
    demo.expect("appointment_reminders", person.email, demo.start, "15 min before (60 skipped)")


def _local_minute(instant: datetime, zone: ZoneInfo) -> tuple[date, time]:
    local = instant.astimezone(zone)
    return local.date(), time(local.hour, local.minute)


def _bikash(demo: Demo, clients: dict[str, uuid.UUID]) -> None:
    """A daily digest at +05:45, listing three appointments of that local date."""
    person = Person(
        "Bikash Shrestha",
        "bikash.shrestha@example.com",
        "Asia/Kathmandu",
        "daily digest at the next minute, local time; appointment reminders off",
    )
    zone = get_zone(person.zone)
    day, at = _local_minute(demo.soon, zone)
    user = _user(
        demo,
        "bikash",
        person,
        own_zone=True,
        digest_enabled=True,
        digest_time=at,
        appointment_reminders_enabled=False,
    )
    for number, (hour, minute, client) in enumerate(
        ((9, 0, "mia"), (11, 30, "script"), (15, 0, "noah")), start=1
    ):
        starts_at = local_to_utc(day, time(hour, minute), zone)
        assert starts_at is not None  # Kathmandu has no gaps
        _appointment(demo, f"appointment:bikash:{number}", user, clients[client], starts_at)
    demo.expect("daily_digest", person.email, demo.soon, f"digest for {day.isoformat()}")


def _teuila(demo: Demo) -> None:
    """Far from UTC (+14): a notes reminder about two drafts, and a task reminder."""
    person = Person(
        "Teuila Faleolo",
        "teuila.faleolo@example.com",
        "Pacific/Kiritimati",
        "notes reminder at the next minute (2 drafts); a task reminder at the next minute",
    )
    _day, at = _local_minute(demo.soon, get_zone(person.zone))
    user = _user(
        demo, "teuila", person, own_zone=True, notes_reminder_enabled=True, notes_reminder_time=at
    )
    for number, draft in enumerate((True, True, False), start=1):
        demo.add(
            "sessions",
            f"session:teuila:{number}",
            workspace_id=DEMO_WORKSPACE_ID,
            user_id=user,
            is_draft=draft,
            updated_at=demo.start - timedelta(hours=number),
        )
    task = _task(
        demo, "task:teuila:forms", user, "Send intake forms", demo.start + timedelta(days=3)
    )
    demo.add(
        "task_reminders", "reminder:teuila:forms", task_id=task, user_id=user, remind_at=demo.soon
    )
    demo.expect("notes_reminders", person.email, demo.soon, "2 draft session notes")
    demo.expect("task_reminders", person.email, demo.soon, "reminder: Send intake forms")


def _task(
    demo: Demo, label: str, user_id: uuid.UUID, title: str, due: datetime, **extra: Any
) -> uuid.UUID:
    values: dict[str, Any] = {"completed": False, "status": "open", "priority": "normal"}
    values.update(extra)
    return demo.add(
        "tasks",
        label,
        workspace_id=DEMO_WORKSPACE_ID,
        user_id=user_id,
        title=title,
        description="Seeded by notifier dev.",
        tags=["demo"],
        due_date=due,
        **values,
    )


def _dana(demo: Demo) -> None:
    """A task due today, one overdue, a completed weekly task that recurs, and her weekly
    report (today being her report day) listing them."""
    person = Person(
        "Dana Kim",
        "dana.kim@example.com",
        "America/Los_Angeles",
        "a task due in 3 h, one 2 h overdue, a completed weekly task that recurs; "
        "weekly report at the next minute, local time",
    )
    day, at = _local_minute(demo.soon, get_zone(person.zone))
    user = _user(
        demo,
        "dana",
        person,
        own_zone=True,
        weekly_report_enabled=True,
        weekly_report_day=day.isoweekday(),
        weekly_report_time=at,
    )
    _task(demo, "task:dana:insurer", user, "Call back the insurer", demo.start + timedelta(hours=3))
    _task(demo, "task:dana:renew", user, "Renew liability cover", demo.start - timedelta(hours=2))
    _task(
        demo,
        "task:dana:weekly",
        user,
        "Weekly supervision notes",
        demo.start - timedelta(days=1),
        completed=True,
        completed_at=demo.start - timedelta(minutes=30),
        status="completed",
        is_recurring=True,
        recurrence_type="weekly",
        recurrence_interval=1,
    )
    demo.expect("task_due_reminders", person.email, demo.start, "due in 3 h: Call back the insurer")
    _task(
        demo,
        "task:dana:invoices",
        user,
        "Send the month's invoices",
        demo.start - timedelta(days=3),
        completed=True,
        completed_at=demo.start - timedelta(days=2),
        status="completed",
    )
    demo.expect("overdue_scanner", person.email, demo.start, "overdue: Renew liability cover")
    demo.expect("weekly_report", person.email, demo.soon, f"weekly report from {day.isoformat()}")


def _prefer(demo: Demo, user_id: uuid.UUID, kinds: tuple[str, ...], **channels: bool) -> None:
    """``notification_preferences`` rows: each of ``kinds`` on or off per channel."""
    rows = demo.rows.setdefault("notification_preferences", [])
    for kind in kinds:
        for channel, enabled in channels.items():
            rows.append(
                {
                    "user_id": user_id,
                    "kind": kind,
                    "channel": channel,
                    "enabled": enabled,
                    "updated_at": demo.start,
                }
            )


def _lea(demo: Demo, clients: dict[str, uuid.UUID]) -> None:
    """In-app only: an appointment reminder and a task due soon become rows of her feed."""
    person = Person(
        "Lea Fischer",
        "lea.fischer@example.com",
        "Europe/Berlin",
        "in-app only (no email): a reminder 30 min before, a task due in 2 h",
    )
    user = _user(demo, "lea", person, own_zone=True, appointment_reminder_minutes=[30])
    _prefer(demo, user, ("appointment_reminder", "task_due"), **{IN_APP: True, EMAIL: False})
    starts_at = demo.start + timedelta(minutes=30)
    _appointment(demo, "appointment:lea:1", user, clients["bold"], starts_at, location="Room 1")
    _task(
        demo,
        "task:lea:report",
        user,
        "Send the <i>monthly</i> report",
        demo.start + timedelta(hours=2),
    )
    about = "30 min before (in-app row)"
    demo.expect("appointment_reminders", person.email, demo.start, about, IN_APP)
    demo.expect("task_due_reminders", person.email, demo.start, "due in 2 h (in-app row)", IN_APP)


def _rangi(demo: Demo, clients: dict[str, uuid.UUID], webhook_url: str | None) -> None:
    """Webhook only, as a chat-tool user: signed posts to the dev receiver at ``webhook_url``."""
    person = Person(
        "Rangi Parata",
        "rangi.parata@example.com",
        "Pacific/Chatham",
        "webhook only (no email): a reminder 60 min before, a task 1 day overdue",
    )
    user = _user(demo, "rangi", person, own_zone=True, webhook_url=webhook_url)
    _prefer(demo, user, ("appointment_reminder", "task_overdue"), **{WEBHOOK: True, EMAIL: False})
    starts_at = demo.start + timedelta(minutes=60)
    _appointment(demo, "appointment:rangi:1", user, clients["script"], starts_at)
    _task(demo, "task:rangi:invoice", user, "File the invoice", demo.start - timedelta(days=1))
    if webhook_url is not None:
        about = "60 min before (webhook post)"
        demo.expect("appointment_reminders", person.email, demo.start, about, WEBHOOK)
        demo.expect("overdue_scanner", person.email, demo.start, "overdue (webhook post)", WEBHOOK)
