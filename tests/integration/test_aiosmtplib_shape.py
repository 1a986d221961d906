"""The parts of aiosmtplib's inside that ``delivery/`` relies on, checked by shape.

``delivery/pipelining.py`` takes over a connected client's transport and ``delivery/smtp.py``
calls ``_ehlo_or_helo_if_needed``: neither is public API. ``pyproject.toml`` bounds aiosmtplib
below 6; this test fails loudly if an allowed version changes what we use, instead of the
pipelined path breaking at run time.
"""

from __future__ import annotations

import asyncio
import inspect

import aiosmtplib
from aiosmtplib.response import SMTPResponse

from notifier.delivery.pipelining import take_over
from tests.support.smtp import CaptureServer


def test_the_private_methods_we_call_exist_with_the_shape_we_call_them() -> None:
    ehlo = aiosmtplib.SMTP._ehlo_or_helo_if_needed
    assert inspect.iscoroutinefunction(ehlo)
    assert list(inspect.signature(ehlo).parameters) == ["self"]
    assert inspect.iscoroutinefunction(aiosmtplib.SMTP.execute_command)
    assert callable(aiosmtplib.SMTP.supports_extension)


async def test_a_connected_client_hands_over_its_transport(smtp_server: CaptureServer) -> None:
    """What ``pipelining.take_over`` reads: the transport and the EHLO extensions."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_server.port)
    assert client.transport is None
    await client.connect()
    try:
        await client._ehlo_or_helo_if_needed()
        assert isinstance(client.transport, asyncio.Transport)
        assert client.supports_extension("pipelining")
        assert take_over(client, 5.0) is not None
    finally:
        client.close()


def test_line_ending_normalisation_and_responses_keep_their_shape() -> None:
    normalize = aiosmtplib.protocol.normalize_message_line_endings
    assert normalize(b"a\nb\rc\r\n") == b"a\r\nb\r\nc\r\n"
    reply = SMTPResponse(250, "OK")
    assert (reply.code, reply.message) == (250, "OK")
    assert issubclass(aiosmtplib.SMTPReadTimeoutError, asyncio.TimeoutError | Exception)
