"""The console's gate: the password, the session cookie, CSRF, and a throttle on failures.

* The password (``ADMIN_PASSWORD``) is compared in constant time (``hmac.compare_digest``),
  for the sign-in form and for the API's ``Authorization: Bearer`` alike.
* A session is a cookie signed with itsdangerous (``URLSafeTimedSerializer``), keyed from
  ``ADMIN_PASSWORD`` and ``SECRET_KEY`` (changing either signs everybody out), expiring after
  ``SESSION_SECONDS``; ``HttpOnly``, ``SameSite=Strict``, ``Path=/admin``, and ``Secure`` when
  ``PUBLIC_BASE_URL`` is https. It carries a random CSRF token that every form must echo;
  the sign-in form gets one too, in a signed-out cookie, and the token changes at sign-in.
* Failed attempts (a wrong password on the form or on the API) are counted per client
  address: past ``FREE_FAILURES`` within ``FAILURE_MEMORY_SECONDS`` the address is locked
  out for a time that doubles with each further failure (at most ``MAX_LOCK_SECONDS``);
  while locked every attempt, right or wrong, answers 429 with ``Retry-After``. The table is
  in-process (one ``notifier web`` process; behind a proxy the address is the proxy's,
  so put the limit there too).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "notifier_admin"
SESSION_SECONDS = 8 * 3600
FREE_FAILURES = 5
FAILURE_MEMORY_SECONDS = 900.0
MAX_LOCK_SECONDS = 900.0
MAX_ADDRESSES = 10_000


def same_password(given: str, password: str) -> bool:
    """Constant-time comparison of UTF-8 bytes."""
    return hmac.compare_digest(given.encode(), password.encode())


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True)
class Session:
    """What the cookie says: signed in or not, and the CSRF token forms must echo."""

    signed_in: bool
    csrf: str

    def csrf_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.csrf.encode())


def fresh_session(signed_in: bool) -> Session:
    return Session(signed_in, secrets.token_urlsafe(32))


class Sessions:
    """Signs and reads session cookies."""

    def __init__(self, password: str, secret_key: str | None) -> None:
        key = hashlib.sha256(f"{secret_key or ''}\x00{password}".encode()).hexdigest()
        self._serializer = URLSafeTimedSerializer(key, salt="notifier-admin-session")

    def dump(self, session: Session) -> str:
        return self._serializer.dumps({"in": session.signed_in, "csrf": session.csrf})

    def load(self, cookie: str | None) -> Session | None:
        """The session in a cookie still valid, or None (absent, forged, expired)."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        return Session(data.get("in") is True, data["csrf"])


@dataclass
class _Record:
    failures: int
    last: float
    locked_until: float


class Throttle:
    """Failed sign-ins per client address; pure, ``now`` is a monotonic reading in seconds."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, _Record] = OrderedDict()

    def wait(self, address: str, now: float) -> float:
        """Seconds the address must still wait before trying again (0: it may try)."""
        record = self._seen.get(address)
        return max(0.0, record.locked_until - now) if record else 0.0

    def failed(self, address: str, now: float) -> None:
        record = self._seen.pop(address, None)
        if record is None or now - record.last > FAILURE_MEMORY_SECONDS:
            record = _Record(0, now, now)
        record.failures += 1
        record.last = now
        extra = record.failures - FREE_FAILURES
        if extra > 0:
            record.locked_until = now + min(2.0 ** (extra - 1), MAX_LOCK_SECONDS)
        self._seen[address] = record
        while len(self._seen) > MAX_ADDRESSES:
            self._seen.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)
