"""The digest and notes-reminder templates, rendered with awkward data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from jinja2 import Environment

from notifier.content.daily_digest import DigestFacts, digest_context
from notifier.content.notes_reminder import notes_context
from notifier.content.render import make_environment, render
from notifier.content.summary import AppointmentLine
from notifier.paths import templates_dir
from notifier.timemath.zones import get_zone

BERLIN = get_zone("Europe/Berlin")
DAY = date(2026, 3, 10)
DUE = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
LONG = "Maximilian-Alexander " * 15
EVIL = '<script>alert("x")</script> & <b>bold</b>'


class Tags(HTMLParser):
    """Collects the tags a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def tags(html: str) -> list[str]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def env() -> Environment:
    return make_environment(templates_dir())


def thirty_appointments() -> list[AppointmentLine]:
    start = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    return [
        AppointmentLine(
            appointment_id=f"a{i:02d}",
            starts_at=start + timedelta(minutes=25 * ((i * 7) % 30)),  # out of order
            client_name=[LONG, EVIL, None, f"Client {i}"][i % 4],
            service_name=None if i % 3 else "Long service " * 10,
            location=None if i % 2 else f"{EVIL} Room {i}",
        )
        for i in range(30)
    ]


def test_a_digest_with_thirty_awkward_appointments(env: Environment) -> None:
    context = digest_context(
        user_name=EVIL,
        day=DAY,
        due=DUE,
        zone=BERLIN,
        facts=DigestFacts(thirty_appointments()),
        base_url="https://app.test/",
    )
    content = render(env, "daily_digest", context)
    assert content.subject == "Your day: Tuesday 10 March 2026, 30 appointments"
    times = [
        line.split()[0] for line in content.text.splitlines() if line[:2].isdigit() and ":" in line
    ]
    assert len(times) == 30 and times == sorted(times) and times[0] == "07:00"
    assert "Tuesday 10 March 2026 (Europe/Berlin, CET)" in content.text
    assert EVIL in content.text and "No location given" in content.text
    assert "No client named" in content.text and LONG.strip() in content.text
    assert "<script>" not in content.html and "<b>" not in content.html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
        in content.html
    )
    assert "script" not in tags(content.html) and "b" not in tags(content.html)
    assert content.html.count("https://app.test/appointments/a") == 30
    assert "https://app.test/calendar?date=2026-03-10" in content.html


def test_an_empty_digest_says_so(env: Environment) -> None:
    context = digest_context(
        user_name=None,
        day=DAY,
        due=DUE,
        zone=BERLIN,
        facts=DigestFacts([]),
        base_url="https://app.test",
    )
    content = render(env, "daily_digest", context)
    assert content.subject == "Your day: Tuesday 10 March 2026, no appointments"
    assert content.text.startswith("Hello there,")
    for body in (content.text, content.html):
        assert "You have no appointments scheduled for this day." in body
    assert "<table" not in content.html


def test_one_appointment_reads_in_the_singular(env: Environment) -> None:
    [first] = thirty_appointments()[:1]
    context = digest_context(
        user_name="Pat", day=DAY, due=DUE, zone=BERLIN, facts=DigestFacts([first]), base_url="x"
    )
    assert render(env, "daily_digest", context).subject.endswith(", 1 appointment")


@pytest.mark.parametrize(
    ("count", "phrase"), [(1, "1 session note is"), (250, "250 session notes are")]
)
def test_the_notes_reminder_with_awkward_names(env: Environment, count: int, phrase: str) -> None:
    context = notes_context(
        user_name=LONG + EVIL, day=DAY, due=DUE, zone=BERLIN, draft_count=count, base_url="x"
    )
    content = render(env, "notes_reminder", context)
    assert content.subject.startswith(phrase.rsplit(" ", 1)[0])
    assert f"{phrase} still in draft (Tuesday 10 March 2026, Europe/Berlin, CET)" in content.text
    assert "<script>" not in content.html and "script" not in tags(content.html)
    assert "&lt;script&gt;" in content.html


def test_a_zone_without_an_abbreviation_is_named_with_its_offset(env: Environment) -> None:
    context = notes_context(
        user_name="Pat",
        day=date(2026, 1, 5),
        due=datetime(2026, 1, 5, 12, 15, tzinfo=UTC),
        zone=get_zone("Asia/Kathmandu"),
        draft_count=2,
        base_url="x",
    )
    assert (
        "Monday 5 January 2026, Asia/Kathmandu, UTC+05:45"
        in render(env, "notes_reminder", context).text
    )
