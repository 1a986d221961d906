"""SMTP transactions in two round trips instead of four, where the server allows it (RFC 2920).

aiosmtplib opens every session (connect, TLS or STARTTLS with verified certificates, EHLO,
AUTH); it has no PIPELINING support, and its one-command-one-reply exchange cost most of a
busy worker's CPU (socket writes, event-loop wake-ups and a timeout per reply; see
bench/results/report.md). When the server advertises ``PIPELINING`` (Postfix, MailHog and
most relays do), the session's transport is handed to ``ReplyReader`` and each message goes
as ``MAIL``+``RCPT``+``DATA`` in one write, then the content in a second: half the round
trips, which also halves the cost of a distant relay's latency per message. Where the server
also advertises ``CHUNKING`` (RFC 3030; Postfix 3.4+, Exchange), ``BDAT`` makes it one write.

Replies are checked in order as ``sendmail`` checks them and raised as aiosmtplib's own
exceptions, so ``smtp.classify`` sorts them into transient and permanent alike.
"""

from __future__ import annotations

import asyncio
from collections import deque

import aiosmtplib
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus

MAX_REPLY_BYTES = 64 * 1024  # a reply longer than this is a broken or hostile server


class ReplyReader(asyncio.Protocol):
    """Parses complete replies off the connection and hands them out in order."""

    def __init__(
        self, transport: asyncio.Transport, reply_seconds: float, *, chunking: bool = False
    ) -> None:
        self.transport = transport
        self.reply_seconds = reply_seconds  # per reply, as aiosmtplib's ``timeout``
        self.chunking = chunking  # the server takes ``BDAT`` (RFC 3030)
        self._buffer = bytearray()
        self._replies: deque[SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except aiosmtplib.SMTPResponseException as exc:
            self._fail(exc)
            return
        if self._replies:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("the server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or aiosmtplib.SMTPServerDisconnected("connection lost"))

    def _parse(self) -> None:
        """Moves every complete reply (its last line has a space after the code) to the queue."""
        start = 0
        while (end := self._buffer.find(b"\n", start)) >= 0:
            if self._buffer[start + 3 : start + 4] != b"-":
                self._replies.append(_reply(bytes(self._buffer[: end + 1])))
                del self._buffer[: end + 1]
                start = 0
            else:
                start = end + 1
        if len(self._buffer) > MAX_REPLY_BYTES:
            too_long = aiosmtplib.SMTPResponseException(SMTPStatus.invalid_response.value, "")
            raise too_long

    def _fail(self, exc: BaseException) -> None:
        if self._lost is None:
            self._lost = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def reply(self) -> SMTPResponse:
        """The next reply; raises the connection's failure or ``SMTPReadTimeoutError``."""
        while not self._replies:
            if self._lost is not None:
                raise self._lost
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self.reply_seconds):
                    await self._waiter
            except TimeoutError:
                raise aiosmtplib.SMTPReadTimeoutError("timed out waiting for a reply") from None
            finally:
                self._waiter = None
        return self._replies.popleft()

    @property
    def alive(self) -> bool:
        """False once the server hung up: the pool then opens a new session before sending."""
        return self._lost is None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if self._lost is not None or self.transport.is_closing():
            raise self._lost or aiosmtplib.SMTPServerDisconnected("connection lost")
        self.transport.write(data)


def _reply(raw: bytes) -> SMTPResponse:
    """One reply, possibly multi-line: its code and its text lines joined."""
    lines = raw.split(b"\n")[:-1]
    try:
        code = int(lines[-1][:3])
    except ValueError:
        raise aiosmtplib.SMTPResponseException(
            SMTPStatus.invalid_response.value, "malformed reply"
        ) from None
    text = b"\n".join(line[4:].strip() for line in lines)
    return SMTPResponse(code, text.decode("utf-8", "replace"))


def take_over(client: aiosmtplib.SMTP, reply_seconds: float) -> ReplyReader | None:
    """The session's transport moved to a ``ReplyReader`` if the server pipelines, else None.

    After this, ``client`` is used only to close the connection.
    """
    transport = client.transport
    if not client.supports_extension("pipelining") or not isinstance(transport, asyncio.Transport):
        return None
    reader = ReplyReader(transport, reply_seconds, chunking=client.supports_extension("chunking"))
    transport.set_protocol(reader)
    return reader


def crlf_lines(data: bytes) -> bytes:
    """The content with CRLF line endings throughout and a final CRLF.

    Our messages already use CRLF (``content.mime``), so the regular expression aiosmtplib
    runs on every message runs only on other input.
    """
    pairs = data.count(b"\r\n")  # a lone CR or LF shows as more of one than of the pairs
    if data.count(b"\n") != pairs or data.count(b"\r") != pairs:
        data = aiosmtplib.protocol.normalize_message_line_endings(data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def dot_stuffed(data: bytes) -> bytes:
    """The content as it travels after ``DATA``: leading dots doubled, ``.`` last."""
    data = crlf_lines(data)
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


async def pipelined_send(reader: ReplyReader, sender: str, recipient: str, data: bytes) -> None:
    """One message; raises aiosmtplib's exceptions as ``sendmail`` would.

    With ``CHUNKING`` the whole transaction is one write (``BDAT`` carries the content's
    length, so nothing waits for a go-ahead and nothing is dot-stuffed); else two.
    """
    envelope = b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n" % (
        sender.encode("ascii"),
        recipient.encode("ascii"),
    )
    if reader.chunking:
        await _send_chunked(reader, envelope, crlf_lines(data), sender, recipient)
        return
    reader.write(envelope + b"DATA\r\n")
    mail, rcpt, start = [await reader.reply() for _ in range(3)]
    refusal = _envelope_refusal(mail, rcpt, sender, recipient)
    if refusal is not None or start.code != SMTPStatus.start_input:
        await _abandon(reader, start)
        raise refusal or aiosmtplib.SMTPDataError(start.code, start.message)
    reader.write(dot_stuffed(data))
    _check_accepted(await reader.reply())


async def _send_chunked(
    reader: ReplyReader, envelope: bytes, content: bytes, sender: str, recipient: str
) -> None:
    """``MAIL``, ``RCPT`` and ``BDAT <n> LAST`` with the content, in one write.

    A server that refused the envelope still reads the chunk (RFC 3030) and refuses ``BDAT``;
    after any refusal ``RSET`` clears the envelope for the next message.
    """
    reader.write(b"%sBDAT %d LAST\r\n%s" % (envelope, len(content), content))
    mail, rcpt, done = [await reader.reply() for _ in range(3)]
    refusal = _envelope_refusal(mail, rcpt, sender, recipient) or _refused_content(done)
    if refusal is not None:
        reader.write(b"RSET\r\n")
        await reader.reply()
        raise refusal


def _refused_content(reply: SMTPResponse) -> aiosmtplib.SMTPDataError | None:
    if reply.code == SMTPStatus.completed:
        return None
    return aiosmtplib.SMTPDataError(reply.code, reply.message)


def _check_accepted(reply: SMTPResponse) -> None:
    """The reply to the content; after it the transaction is over either way (RFC 5321)."""
    refusal = _refused_content(reply)
    if refusal is not None:
        raise refusal


def _envelope_refusal(
    mail: SMTPResponse, rcpt: SMTPResponse, sender: str, recipient: str
) -> aiosmtplib.SMTPException | None:
    if mail.code != SMTPStatus.completed:
        return aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender)
    if rcpt.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
        refused = aiosmtplib.SMTPRecipientRefused(rcpt.code, rcpt.message, recipient)
        return aiosmtplib.SMTPRecipientsRefused([refused])
    return None


async def _abandon(reader: ReplyReader, start: SMTPResponse) -> None:
    """Ends a refused transaction so the connection can carry the next one.

    A server that said ``354`` despite a refusal gets an empty message it will reject; then
    ``RSET`` clears the envelope.
    """
    if start.code == SMTPStatus.start_input:
        reader.write(b".\r\n")
        await reader.reply()
    reader.write(b"RSET\r\n")
    await reader.reply()


async def quit_session(reader: ReplyReader) -> None:
    """Says ``QUIT`` and closes; a server that does not answer is simply hung up on."""
    try:
        reader.write(b"QUIT\r\n")
        async with asyncio.timeout(5):
            await reader.reply()
    except (aiosmtplib.SMTPException, OSError):  # TimeoutError is an OSError
        pass
    finally:
        reader.transport.close()
