"""What ``notifier dev`` prints on stdout at start: where things are, what it seeded, how to stop.

Pure text from facts gathered by the service, so its wording is tested without a server. It
never prints a URL from the environment (it may carry a password), only which variable won.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from notifier.dev.seed import WORKSPACE_NAME, WORKSPACE_ZONE, Demo, ExpectedDelivery, Person
from notifier.dev.standins import DEV_QUEUE_NAME, Standins
from notifier.rules.kinds import CHANNELS
from notifier.timemath.tz_database import TzDatabase, current_tz_database
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
class WebhookFacts:
    """The local webhook receiver, and whether this run made up its ``WEBHOOK_SECRET``."""

    receiver: str
    generated_secret: bool


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
    expected: list[ExpectedDelivery]
    webhooks: WebhookFacts | None = None
    unsubscribe_url: str | None = None  # where this run's unsubscribe pages are
    # Read when the facts are gathered, after the command chose the database (TZ_DATABASE).
    tz_database: TzDatabase = field(default_factory=current_tz_database)


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
        *_channels(facts),
        f'  health    {facts.health_url}   (its body says "mode": "dev")',
        *_unsubscribe(facts),
        f"  database  {database}",
        f"  redis     {redis}",
        f"  jobs      {', '.join(facts.jobs)}: once now, then on their dev schedules",
        f"  zones     {facts.tz_database.describe()}   (TZ_DATABASE)",
    ]


def _channels(facts: BannerFacts) -> list[str]:
    """Where in-app rows and webhook posts show: the inbox's pages, else the table and stdout."""
    inbox = facts.inbox_url if facts.standins.smtp else None
    in_app = f"{inbox}/in-app" if inbox else "the in_app_notifications table"
    lines = [f"  in-app    {in_app}   (rows of in_app_notifications, per demo user)"]
    hooks = facts.webhooks
    if hooks is not None:
        where = f"{inbox}/webhooks" if inbox else "a line below per post"
        secret = "generated for this run" if hooks.generated_secret else "from WEBHOOK_SECRET"
        lines.append(
            f"  webhooks  {where}   (receiver {hooks.receiver}, signatures checked; "
            f"secret {secret})"
        )
    return lines


def _unsubscribe(facts: BannerFacts) -> list[str]:
    if facts.unsubscribe_url is None:
        return []
    return [
        f"  pages     {facts.unsubscribe_url}/unsubscribe/…   (notifier web: the one-click "
        "unsubscribe links of digests, weekly reports and notes reminders)"
    ]


def _person(person: Person, at: datetime) -> str:
    zone = f"{person.zone} ({_offset(person.zone, at)})"
    return f"  {person.name} <{person.email}>, {zone}: {person.story}"


def _seeded(demo: Demo) -> list[str]:
    counts = demo.counts()
    parts = ", ".join(f"{counts.get(table, 0)} {word}" for table, word in TABLE_WORDS)
    head = f'Seeded the demo workspace "{WORKSPACE_NAME}", zone {WORKSPACE_ZONE}: {parts}'
    return [head, *(_person(p, demo.now) for p in demo.people)]


def _expected(expected: list[ExpectedDelivery]) -> list[str]:
    per_channel = [(c, sum(1 for e in expected if e.channel == c)) for c in CHANNELS]
    counts = ", ".join(f"{n} {channel}" for channel, n in per_channel if n)
    lines = [f"Expected within two minutes ({len(expected)} deliveries: {counts}):"]
    order = {channel: number for number, channel in enumerate(CHANNELS)}
    for item in sorted(expected, key=lambda e: (order.get(e.channel, 9), e.due, e.kind)):
        head = f"  due {item.due:%H:%M} UTC  {item.channel:<8} {item.kind:<21}"
        lines.append(f"{head} to {item.to}  {item.about}")
    return lines


def banner(facts: BannerFacts) -> str:
    lines = ["notifier dev · DEV MODE · embedded stand-ins, not production", ""]
    lines += _where(facts)
    if facts.demo is not None:
        lines += ["", *_seeded(facts.demo), "", *_expected(facts.expected)]
    lines += ["", "Stop with Ctrl-C (everything stops cleanly)."]
    return "\n".join(lines)
