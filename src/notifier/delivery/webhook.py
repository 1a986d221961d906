"""Signed webhook POSTs (Standard Webhooks), sent only to public addresses.

A webhook URL is typed in by a user, so it must not become a way to reach the worker's own
network. The rule is enforced where it cannot be dodged: names are resolved by
``PublicAddressResolver``, which hands the connector only public addresses, so the address
judged is the address connected to (a DNS answer that changes between a check and the connect
changes nothing). IP-literal hosts never reach a resolver, so ``check_url`` judges them.
Redirects are never followed, as a redirect would be a second, unchecked URL.

Every reason, exception message and log line here names a status code, a refusal or an
exception class, never the URL (it may carry a token in its path or query), the secret or the
body.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from standardwebhooks.webhooks import Webhook
from yarl import URL

from notifier.delivery import public_address
from notifier.delivery.smtp import SendError

MAX_URL_LENGTH = 2048
# Enough of a response body to keep the connection reusable; the rest is not worth reading.
_DRAIN_LIMIT = 64 * 1024
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
# A last label like these makes a URL parser read the host as an IPv4 number (WHATWG URL).
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)


class BadWebhookUrlError(ValueError):
    """A webhook URL that must not be used; the message never contains the URL."""


class RefusedAddressError(OSError):
    """A host name that resolved only to refused addresses.

    An ``OSError``, because that is what aiohttp's connector expects from a resolver; it
    carries the refusal so that the client can report it as permanent.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_url(url: object, *, allow_private: bool) -> str:
    """Returns ``url`` if a webhook may be posted to it, else raises BadWebhookUrlError."""
    text = _checked_text(url)
    parsed = _parse(text)
    _check_scheme(parsed.scheme, allow_private=allow_private)
    literal = _host_literal(parsed)
    if literal is not None and not allow_private:
        reason = public_address.refusal(literal)
        if reason is not None:
            raise BadWebhookUrlError(f"webhook URL points to {_with_article(reason)}")
    return text


def _checked_text(url: object) -> str:
    if not isinstance(url, str):
        raise BadWebhookUrlError("webhook URL is not a string")
    if not url:
        raise BadWebhookUrlError("webhook URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise BadWebhookUrlError(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in url):
        raise BadWebhookUrlError("webhook URL contains whitespace or control characters")
    return url


def _parse(text: str) -> URL:
    """Parses with yarl, the parser aiohttp itself uses, so both see the same host."""
    try:
        parsed = URL(text)
        authority = URL(text, encoded=True).raw_authority
    except ValueError:
        raise BadWebhookUrlError("webhook URL cannot be parsed") from None
    if not authority.isascii():
        raise BadWebhookUrlError("webhook URL has a non-ASCII host")
    if "@" in authority:
        raise BadWebhookUrlError("webhook URL contains user information")
    return parsed


def _check_scheme(scheme: str, *, allow_private: bool) -> None:
    allowed = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed:
        raise BadWebhookUrlError("webhook URL must use https")


def _host_literal(parsed: URL) -> IPv4Address | IPv6Address | None:
    """The host as an IP address, None for a name; numeric look-alikes (127.1) are refused."""
    host, decoded = parsed.raw_host, parsed.host
    if not host or not decoded or not parsed.is_absolute():
        raise BadWebhookUrlError("webhook URL has no host")
    if ":" in host:
        return _ip(decoded)
    if not _HOST_NAME.fullmatch(host):
        raise BadWebhookUrlError("webhook URL has an invalid host")
    bare = host.removesuffix(".")
    return _ip(bare) if _NUMERIC_LABEL.fullmatch(bare.rsplit(".", 1)[-1]) else None


def _ip(text: str) -> IPv4Address | IPv6Address:
    try:
        return ip_address(text)
    except ValueError:
        raise BadWebhookUrlError("webhook URL host is not a valid IP address") from None


def _with_article(reason: str) -> str:
    return ("an " if reason[:1].lower() in "aeiou" else "a ") + reason


def signature_headers(secret: str, msg_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers; ``secret`` is written ``whsec_`` + base64.

    A naive ``timestamp`` is taken as UTC, as standardwebhooks signs it, so that the header and
    the signature always name the same second.
    """
    moment = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body),
    }


class PublicAddressResolver(AbstractResolver):
    """Resolves with ``inner`` and keeps only the addresses ``public_address`` allows.

    aiohttp connects only to what its resolver returns, so filtering here checks the address
    actually connected to.
    """

    def __init__(self, inner: AbstractResolver) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        verdicts = [(result, public_address.parse_and_refuse(result["host"])) for result in results]
        allowed = [result for result, reason in verdicts if reason is None]
        if allowed:
            return allowed
        reasons = [reason for _, reason in verdicts if reason is not None]
        first = reasons[0] if reasons else "no address"
        raise RefusedAddressError(f"webhook host resolves to {_with_article(first)}")

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class WebhookOptions:
    """Settings taken from the configuration (``WEBHOOK_TIMEOUT_SECONDS``, ...)."""

    timeout_seconds: float
    allow_private: bool
    pool_size: int = 100


class WebhookClient:
    """Posts webhooks over a pool of keep-alive connections; failures become SendError.

    The aiohttp session is made on first use, inside the running event loop, so that the
    client can be built anywhere (at start-up, in a test) without a loop.
    """

    def __init__(self, options: WebhookOptions) -> None:
        self._options = options
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POSTs ``body``; returns on a 2xx, else raises SendError (permanent or transient)."""
        try:
            checked = check_url(url, allow_private=self._options.allow_private)
        except BadWebhookUrlError as exc:
            raise SendError(str(exc), permanent=True) from None
        try:
            status = await self._send(checked, body, headers)
        except (aiohttp.ClientError, OSError) as exc:
            raise classify_error(exc) from None
        error = classify_status(status)
        if error is not None:
            raise error

    async def _send(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        session = self._open_session()
        async with session.post(url, data=body, headers=dict(headers), allow_redirects=False) as r:
            await _drain(r)
            return r.status

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._options.pool_size, resolver=self._resolver()
                ),
                timeout=aiohttp.ClientTimeout(total=self._options.timeout_seconds),
            )
        return self._session

    def _resolver(self) -> AbstractResolver:
        if self._options.allow_private:
            return DefaultResolver()
        return PublicAddressResolver(DefaultResolver())

    async def close(self) -> None:
        """Closes the pooled connections; a later ``post`` opens a new session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Reads (and drops) a bounded amount of the body so the connection can be reused.

    The status is the answer; a body that fails to arrive does not change it.
    """
    remaining = _DRAIN_LIMIT
    with contextlib.suppress(aiohttp.ClientError, OSError):
        while remaining > 0:
            chunk = await response.content.read(min(remaining, 16 * 1024))
            if not chunk:
                return
            remaining -= len(chunk)


def classify_status(status: int) -> SendError | None:
    """None for a 2xx; 408, 429 and 5xx are transient, every other answer permanent."""
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return SendError(f"webhook redirect not followed (HTTP {status})", permanent=True)
    transient = status in (408, 429) or 500 <= status < 600
    return SendError(f"webhook HTTP {status}", permanent=not transient)


def classify_error(exc: BaseException) -> SendError:
    """A refused address or an invalid URL is permanent; any other failure is transient."""
    refused = _refusal_in_chain(exc)
    if refused is not None:
        return SendError(refused.reason, permanent=True)
    if isinstance(exc, aiohttp.InvalidURL):
        return SendError(f"webhook URL invalid ({type(exc).__name__})", permanent=True)
    return SendError(f"webhook unavailable ({type(exc).__name__})", permanent=False)


def _refusal_in_chain(exc: BaseException | None) -> RefusedAddressError | None:
    """aiohttp wraps the resolver's error (ClientConnectorDNSError), so look underneath."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, RefusedAddressError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
