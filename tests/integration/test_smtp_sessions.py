"""The SMTP pool against real servers: pipelined where advertised, plain otherwise, alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from notifier.delivery.smtp import SendError, SmtpOptions, SmtpPool
from tests.support.servers import free_port
from tests.support.smtp import CaptureServer

SENDER = "notifier@practice.test"
# Lines that start with a dot must arrive as written: the sender doubles them (RFC 5321 4.5.2).
MESSAGE = b"Subject: hi\r\n\r\n.leading dot\r\n..two\r\n.\r\nlast\r\n"


def options(port: int, size: int = 1) -> SmtpOptions:
    return SmtpOptions("127.0.0.1", port, None, None, False, False, 5.0, size)


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
async def pool(mailbox: CaptureServer, request: pytest.FixtureRequest) -> AsyncIterator[SmtpPool]:
    mailbox.handler.pipelining = request.param
    smtp = SmtpPool(options(mailbox.port))
    yield smtp
    await smtp.close()


async def test_messages_arrive_byte_for_byte_over_one_connection(
    pool: SmtpPool, mailbox: CaptureServer
) -> None:
    for i in range(3):
        await pool.send(SENDER, f"user{i}@example.test", MESSAGE)
    got = mailbox.messages
    assert [m.rcpt_tos for m in got] == [[f"user{i}@example.test"] for i in range(3)]
    assert all(m.data == MESSAGE and m.mail_from == SENDER for m in got)


async def test_a_refused_recipient_is_permanent_and_the_next_send_still_goes(
    pool: SmtpPool, mailbox: CaptureServer
) -> None:
    mailbox.handler.reject.add("gone@example.test")
    with pytest.raises(SendError) as refused:
        await pool.send(SENDER, "gone@example.test", MESSAGE)
    assert refused.value.permanent and "550" in refused.value.reason
    await pool.send(SENDER, "here@example.test", MESSAGE)
    assert [m.rcpt_tos for m in mailbox.messages] == [["here@example.test"]]


async def test_a_temporary_refusal_is_transient(pool: SmtpPool, mailbox: CaptureServer) -> None:
    mailbox.handler.tempfail["busy@example.test"] = 1
    with pytest.raises(SendError) as deferred:
        await pool.send(SENDER, "busy@example.test", MESSAGE)
    assert not deferred.value.permanent and "451" in deferred.value.reason
    await pool.send(SENDER, "busy@example.test", MESSAGE)
    assert len(mailbox.messages) == 1


async def test_a_connection_the_server_dropped_is_replaced_not_reused(
    pool: SmtpPool, mailbox: CaptureServer
) -> None:
    await pool.send(SENDER, "a@example.test", MESSAGE)
    mailbox.stop()
    mailbox.start()
    try:  # whether the hang-up is seen before this send depends on the loop's timing
        await pool.send(SENDER, "b@example.test", MESSAGE)
    except SendError as lost:
        assert not lost.permanent  # a transient failure: dispatch retries it
        await pool.send(SENDER, "b@example.test", MESSAGE)
    assert [m.rcpt_tos for m in mailbox.messages] == [["a@example.test"], ["b@example.test"]]


class Recorder(asyncio.Protocol):
    """A pipelining server that records what arrives in each read, to count round trips.

    With ``chunking`` it also takes ``BDAT``; it refuses recipients in ``reject`` with 550.
    """

    def __init__(self, reads: list[bytes], chunking: bool, reject: set[bytes]) -> None:
        self.reads, self.chunking, self.reject = reads, chunking, reject
        self.pending = b""
        self.in_data = False
        self.envelope_ok = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 ready\r\n")

    def data_received(self, data: bytes) -> None:
        self.reads.append(data)
        self.pending += data
        replies = []
        while (reply := self._next()) is not None:
            replies.append(reply)
        self.transport.write(b"".join(replies))

    def _next(self) -> bytes | None:
        """The reply to the next complete command or message in ``pending``, if any."""
        if self.in_data:
            end = self.pending.find(b"\r\n.\r\n")
            if end < 0:
                return None
            self.pending, self.in_data = self.pending[end + 5 :], False
            return b"250 queued\r\n"
        end = self.pending.find(b"\r\n")
        if end < 0:
            return None
        line, self.pending = self.pending[:end], self.pending[end + 2 :]
        if line.startswith(b"BDAT "):
            self.pending = self.pending[int(line.split()[1]) :]
            return b"250 queued\r\n" if self.envelope_ok else b"554 no valid recipients\r\n"
        return self._answer(line)

    def _answer(self, line: bytes) -> bytes:
        verb = line[:4]
        if verb == b"EHLO":
            return (
                b"250-recorder\r\n"
                + (b"250-CHUNKING\r\n" if self.chunking else b"")
                + (b"250 PIPELINING\r\n")
            )
        if verb == b"RCPT":
            self.envelope_ok = line[9:-1] not in self.reject
            return b"250 ok\r\n" if self.envelope_ok else b"550 no such user\r\n"
        if verb == b"DATA" and not self.envelope_ok:
            return b"554 no valid recipients\r\n"
        self.in_data = verb == b"DATA"
        return {b"DATA": b"354 go\r\n", b"QUIT": b"221 bye\r\n"}.get(verb, b"250 ok\r\n")


@pytest.fixture(params=[False, True], ids=["pipelining", "chunking"])
async def recorder(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SmtpPool, list[bytes]]]:
    reads: list[bytes] = []
    port = free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: Recorder(reads, request.param, {b"gone@example.test"}), "127.0.0.1", port
    )
    smtp = SmtpPool(options(port))
    yield smtp, reads
    await smtp.close()
    server.close()


async def test_where_advertised_a_message_takes_two_round_trips_or_one_with_chunking(
    recorder: tuple[SmtpPool, list[bytes]],
) -> None:
    smtp, reads = recorder
    await smtp.send(SENDER, "to@example.test", MESSAGE)
    after_hello = len(reads)
    await smtp.send(SENDER, "to@example.test", MESSAGE)
    envelope = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<to@example.test>\r\n".encode()
    if b"BDAT" in reads[after_hello]:
        assert reads[after_hello:] == [envelope + b"BDAT %d LAST\r\n" % len(MESSAGE) + MESSAGE]
    else:
        stuffed = MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n"
        assert reads[after_hello:] == [envelope + b"DATA\r\n", stuffed]


async def test_a_refused_recipient_ends_the_pipelined_transaction_cleanly(
    recorder: tuple[SmtpPool, list[bytes]],
) -> None:
    smtp, reads = recorder
    with pytest.raises(SendError) as refused:
        await smtp.send(SENDER, "gone@example.test", MESSAGE)
    assert refused.value.permanent and "550" in refused.value.reason
    assert reads[-1] == b"RSET\r\n"
    await smtp.send(SENDER, "to@example.test", MESSAGE)
