"""Every message we build parses back, with the standard parser, to exactly what we meant."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.content.mime import (
    BadAddressError,
    OutgoingMessage,
    build_message,
    check_address,
    header_date,
    slot_message_id,
)
from notifier.content.render import header_safe

DATE = datetime(2026, 3, 8, 14, 0, tzinfo=UTC)


def _parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


@settings(max_examples=300, deadline=None)
@given(subject=st.text(min_size=1, max_size=200), text=st.text(), html=st.text())
def test_round_trip(subject: str, text: str, html: str) -> None:
    subject = header_safe(subject) or "x"
    msg = OutgoingMessage(
        "notifier@practice.test",
        "pat@example.com",
        subject,
        text,
        html,
        "<abc@practice.test>",
        "appointment_reminder",
        DATE,
    )
    parsed = _parse(build_message(msg))
    assert parsed["Subject"] == subject
    assert parsed["To"] == "pat@example.com" and parsed["From"] == "notifier@practice.test"
    assert parsed["Message-ID"] == "<abc@practice.test>"
    assert parsed["X-Notification-Kind"] == "appointment_reminder"
    assert parsed["Date"].datetime == DATE
    assert (_body(parsed, "plain"), _body(parsed, "html")) == (text, html)
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert not parsed.defects


def test_bodies_round_trip_exactly() -> None:
    text, html = "Größe: 5 €\nZeile 2\n", "<p>Grüße &amp; 😀</p>"
    msg = OutgoingMessage("a@b.test", "c@d.test", "Grüße 😀", text, html, "<x@b.test>", "k", DATE)
    parsed = _parse(build_message(msg))
    assert (_body(parsed, "plain"), _body(parsed, "html")) == (text, html)
    assert parsed["Subject"] == "Grüße 😀"


def test_message_id_depends_on_the_whole_slot_key_only() -> None:
    a = slot_message_id("k", "e", "u", DATE, "d.test")
    assert a == slot_message_id("k", "e", "u", DATE, "d.test")
    assert a != slot_message_id("k", "e", "u2", DATE, "d.test")
    assert a.startswith("<") and a.endswith("@d.test>")


@pytest.mark.parametrize(
    "address",
    [
        None,
        "",
        "plain",
        "a@",
        "@b.test",
        "a b@c.test",
        "a@b.test\r\nBcc: x@y.test",
        "a@b@c.test",
        "<a@b.test>",
    ],
)
def test_bad_addresses_are_refused(address: str | None) -> None:
    with pytest.raises(BadAddressError):
        check_address(address)


@pytest.mark.parametrize(
    "address", ["pat@example.com", "o'neil+tag@mail.example.co.uk", "x@localhost"]
)
def test_good_addresses_pass(address: str) -> None:
    assert check_address(address) == address


@pytest.mark.parametrize(
    ("raw", "safe"), [("a\r\nBcc: x", "a Bcc: x"), ("  a \t b\n", "a b"), ("a\x0bb", "a b")]
)
def test_header_safe(raw: str, safe: str) -> None:
    assert header_safe(raw) == safe


@given(
    st.datetimes(datetime(1970, 1, 2), datetime(2200, 1, 1), timezones=st.timezones(no_cache=True))
)
def test_the_date_header_is_what_the_standard_library_writes_in_utc(moment: datetime) -> None:
    assert header_date(moment) == format_datetime(moment.astimezone(UTC))
