"""A small pool of reused SMTP connections, with failures sorted into transient and permanent.

One connection per email triples the cost of a send; a fixed pool also bounds how hard we
hit a relay. Sessions whose server advertises PIPELINING send through ``pipelining``. Errors
carry a reply code and a class name only, never an address or content.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib.typing import SMTPStatus

from notifier.content.mime import BadAddressError, check_address
from notifier.delivery.pipelining import ReplyReader, pipelined_send, quit_session, take_over
from notifier.delivery.rate_limit import SLOW_DOWN_CODES, RelayLimiter


class SendError(Exception):
    """A send that did not go through; ``permanent`` ones must not be retried."""

    def __init__(self, reason: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code  # the relay's reply code, when it answered
        self.attempts = 1


@dataclass(frozen=True)
class SmtpOptions:
    """Connection settings taken from the configuration."""

    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    tls: bool
    timeout: float
    size: int


def classify(exc: BaseException) -> SendError:
    """Maps aiosmtplib's and the OS's exceptions onto our two outcomes."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [err.code for err in exc.recipients]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        reason = f"recipient refused ({','.join(map(str, codes))})"
        return SendError(reason, permanent=permanent, code=min(codes, default=None))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = f"SMTP {exc.code} ({type(exc).__name__})"
        return SendError(reason, permanent=exc.code >= 500, code=exc.code)
    return SendError(f"SMTP unavailable ({type(exc).__name__})", permanent=False)


# Refusals of one message: the session stays in step and carries the next one.
_REFUSALS = (
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPRecipientsRefused,
    aiosmtplib.SMTPDataError,
)


@dataclass
class _Session:
    """One connection: opened by aiosmtplib, its transactions pipelined when the server allows."""

    client: aiosmtplib.SMTP
    reader: ReplyReader | None = None

    @property
    def connected(self) -> bool:
        return self.reader.alive if self.reader is not None else self.client.is_connected


class SmtpPool:
    """Hands out connected sessions; one that failed is dropped and reconnected lazily.

    With a ``limiter`` (``SMTP_RATE_LIMIT``) each send first waits for its instant in the
    pool-wide rate, holding its session (sessions freed at once would leave in a burst), and a
    421/454 answer pauses every worker's sends.
    """

    def __init__(self, options: SmtpOptions) -> None:
        self._options = options
        self.limiter: RelayLimiter | None = None
        self._idle: asyncio.Queue[_Session] = asyncio.Queue()
        for _ in range(options.size):
            self._idle.put_nowait(self._new_session())

    def _new_session(self) -> _Session:
        o = self._options
        client = aiosmtplib.SMTP(
            hostname=o.host,
            port=o.port,
            use_tls=o.tls,
            start_tls=o.starttls,
            validate_certs=True,
            tls_context=ssl.create_default_context() if (o.tls or o.starttls) else None,
            timeout=o.timeout,
        )
        return _Session(client)

    async def _connect(self, client: aiosmtplib.SMTP) -> None:
        await client.connect()
        if self._options.username and self._options.password is not None:
            await client.login(self._options.username, self._options.password)

    async def _ready(self, session: _Session) -> _Session:
        if session.connected:
            return session
        await _discard(session)
        session = self._new_session()
        await self._connect(session.client)
        await session.client._ehlo_or_helo_if_needed()
        session.reader = take_over(session.client, self._options.timeout)
        return session

    async def send(self, sender: str, recipient: str, data: bytes, lane: int = 2) -> None:
        """Sends one message; raises SendError. ``lane``: its priority for the relay's rate.

        The recipient passes the address rule once more here, the last step before a command
        line: an address that could end or add an SMTP command is refused for good, before
        any session is touched, whoever built the delivery.
        """
        try:
            check_address(recipient)
        except BadAddressError as exc:
            raise SendError(str(exc), permanent=True) from None
        session = await self._idle.get()
        try:
            if self.limiter is not None:
                await self.limiter.acquire(lane)
            session = await self._ready(session)
            if session.reader is not None:
                await pipelined_send(session.reader, sender, recipient, data)
            else:
                await _transaction(session.client, sender, recipient, data)
        except _REFUSALS as exc:  # the server answered and the envelope was reset: keep it
            raise await self._slowed(classify(exc)) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _discard(session)  # no longer connected: the next send opens a new one
            raise await self._slowed(classify(exc)) from None
        except asyncio.CancelledError:
            _hang_up(session)  # cut mid-transaction: the session is out of step with its server
            raise
        except Exception as exc:  # not foreseen: the session's state is unknown, so drop it
            _hang_up(session)
            raise SendError(f"SMTP client error ({type(exc).__name__})", permanent=False) from None
        finally:
            self._idle.put_nowait(session)

    async def _slowed(self, error: SendError) -> SendError:
        """A 421/454 pauses the whole pool's sends (every worker's), not this session's only."""
        if self.limiter is not None and error.code in SLOW_DOWN_CODES:
            await self.limiter.refused()
        return error

    async def verify(self) -> None:
        """Connects as a send would (TLS, login) and says NOOP; for ``notifier check``.

        Raises aiosmtplib's or the OS's exception unchanged, so the caller can say what failed.
        """
        client = self._new_session().client
        try:
            await self._connect(client)
            await client.noop()
        finally:
            await _discard(_Session(client))

    async def close(self) -> None:
        """Quits every connected session; idempotent."""
        while not self._idle.empty():
            await _discard(self._idle.get_nowait())
        if self.limiter is not None:
            limiter, self.limiter = self.limiter, None
            await limiter.close()


async def _transaction(client: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """MAIL, RCPT and DATA for one recipient: ``sendmail`` without its address parsing.

    ``sendmail`` parses every address twice with ``email.utils.parseaddr``, ~10% of a busy
    worker's CPU; ours are checked already (``check_address``, ``MAIL_FROM``'s validator).
    Errors are raised as ``sendmail`` raises them, and the envelope is reset after a refusal.
    """
    await client._ehlo_or_helo_if_needed()
    try:
        reply = await client.execute_command(b"MAIL", b"FROM:<" + sender.encode("ascii") + b">")
        if reply.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
        reply = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">")
        if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refused = aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
            raise aiosmtplib.SMTPRecipientsRefused([refused])
        await client.data(data)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await client.rset()
        raise


def _hang_up(session: _Session) -> None:
    """Closes the socket at once, without QUIT; the pool opens a new session in its place."""
    if session.reader is not None:
        session.reader.transport.close()
    else:
        session.client.close()


async def _discard(session: _Session) -> None:
    """Says goodbye if the connection is still up; a server that does not answer is hung up on."""
    if session.reader is not None:
        if session.reader.alive:
            await quit_session(session.reader)
        session.reader.transport.close()  # after a garbled reply the socket may still be open
        return
    client = session.client
    if client.is_connected:
        try:
            await asyncio.wait_for(client.quit(), 5)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()
