"""The address rule is the one the SMTP client enforces, and no looser (issue 21).

``check_address`` guards planning and ``SmtpPool.send``; whatever it accepts must go on an SMTP
command line as it is. aiosmtplib's own checks are the judge: ``execute_command`` refuses an
argument with a control character, and ``parse_address`` refuses what would end the address.
"""

from __future__ import annotations

import pytest
from aiosmtplib.email import parse_address
from aiosmtplib.protocol import COMMAND_INJECTION_REGEX
from hypothesis import example, given
from hypothesis import strategies as st

from notifier.content.mime import BadAddressError, check_address

ATOM = "abcXYZ019.!#$%&'*+/=?^_`{|}~-"
addresses = st.one_of(
    st.text(),
    st.builds(
        lambda local, domain, tail: f"{local}@{domain}{tail}",
        st.text(ATOM + '\n\r\t \x00\x7f<>"é', min_size=1, max_size=20),
        st.text("abc.-09\n\r \x1b", min_size=1, max_size=20),
        st.sampled_from(["", "\n", "\r\n", " ", "\x00", ">", "\u2028"]),
    ),
)


def smtp_client_accepts(address: str) -> bool:
    """Whether aiosmtplib would put ``RCPT TO:<address>`` on the wire unchanged."""
    try:
        parsed = parse_address(address)
        argument = f"TO:<{address}>".encode("ascii")
    except (ValueError, UnicodeEncodeError):
        return False
    return parsed == address and not COMMAND_INJECTION_REGEX.search(argument)


@given(addresses)
@example("someone@example.com\n")
@example("someone@example.com\r\nRCPT TO:<other@example.com>")
def test_every_address_the_check_accepts_the_smtp_client_accepts_unchanged(address: str) -> None:
    try:
        accepted = check_address(address) == address
    except BadAddressError:
        return
    assert accepted and smtp_client_accepts(address)


@given(st.text(min_size=1), st.sampled_from([chr(c) for c in (*range(32), 127)]))
def test_a_control_character_anywhere_is_refused(address: str, control: str) -> None:
    for at in (0, len(address) // 2, len(address)):
        with pytest.raises(BadAddressError):
            check_address(address[:at] + control + address[at:])


@pytest.mark.parametrize("address", ["pat@example.com", "a.b+c@mail.example.org", "x@y"])
def test_plain_addresses_pass_unchanged(address: str) -> None:
    assert check_address(address) == address and smtp_client_accepts(address)
