"""What ``notifier dev`` prints on stdout at start: where things are, what it seeded, how to stop.

Pure text from facts gathered by the service, so its wording is tested without a server. It
never prints a URL from the environment (it may carry a password), only which variable won.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier.dev.seed import WORKSPACE_NAME, WORKSPACE_ZONE, Demo, ExpectedMail, Person
from notifier.dev.standins import DEV_QUEUE_NAME, Standins
from notifier.timemath.zones import get_zone

TABLE_WORDS = (
    ("users", "users"),
    ("clients", "clients"),
    ("appointments", "appointments"),
    ("sessions", "sessions"),
    ("tasks", "tasks"),
    ("task_reminders", "task reminders"),
)


@dataclass(frozen=True)
class BannerFacts:
    """Everything the banner states."""

    standins: Standins
    inbox_url: str | None
    catcher: str | None
    health_url: str
    database: str
    smtp_relay: str
    jobs: list[str]
    demo: Demo | None
    expected: list[ExpectedMail]


def _offset(zone_name: str, at: datetime) -> str:
    offset = at.astimezone(get_zone(zone_name)).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def _where(facts: BannerFacts) -> list[str]:
    s = facts.standins
    mail = (
        f"  inbox     {facts.inbox_url}   (SMTP stand-in on {facts.catcher}; mail kept in memory)"
        if s.smtp
        else f"  mail      sent for real through SMTP_HOST {facts.smtp_relay} (no inbox)"
    )
    database = "SQLite file " + facts.database if s.database else facts.database
    database += " (stand-in)" if s.database else " (from DATABASE_URL)"
    redis = "in-process fakeredis (stand-in)" if s.redis else f"REDIS_URL, queue {DEV_QUEUE_NAME}"
    return [
        mail,
        f'  health    {facts.health_url}   (its body says "mode": "dev")',
        f"  database  {database}",
        f"  redis     {redis}",
        f"  jobs      {', '.join(facts.jobs)}: once now, then on their dev schedules",
    ]


def _person(person: Person, at: datetime) -> str:
    zone = f"{person.zone} ({_offset(person.zone, at)})"
    return f"  {person.name} <{person.email}>, {zone}: {person.story}"


def _seeded(demo: Demo) -> list[str]:
    counts = demo.counts()
    parts = ", ".join(f"{counts.get(table, 0)} {word}" for table, word in TABLE_WORDS)
    head = f'Seeded the demo workspace "{WORKSPACE_NAME}", zone {WORKSPACE_ZONE}: {parts}'
    return [head, *(_person(p, demo.now) for p in demo.people)]


def _expected(expected: list[ExpectedMail]) -> list[str]:
    lines = [f"Expected in the inbox within two minutes ({len(expected)} messages):"]
    for mail in sorted(expected, key=lambda m: (m.due, m.kind)):
        lines.append(f"  due {mail.due:%H:%M} UTC  {mail.kind:<21} to {mail.to}  {mail.about}")
    return lines


def banner(facts: BannerFacts) -> str:
    lines = ["notifier dev · DEV MODE · embedded stand-ins, not production", ""]
    lines += _where(facts)
    if facts.demo is not None:
        lines += ["", *_seeded(facts.demo), "", *_expected(facts.expected)]
    lines += ["", "Stop with Ctrl-C (everything stops cleanly)."]
    return "\n".join(lines)
