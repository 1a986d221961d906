"""The operator console's reads of the ledger: the deliveries search, one row, the overview.

Every filter is a bound parameter; the order is ``created_at`` then ``id``, newest first,
and pages are cut by keyset (the last row's ``created_at`` and ``id``), never by offset, so
a page costs the same at the end of ten million rows as at the start. Which index serves
which filter, and why only two were added for the console: migration 0007's docstring;
``bench/console_search.py`` measures every filter over ten million rows.

Parsing the request's text into a ``Search`` is pure and raises ``BadInput`` naming the
field, so the API and the pages answer 400 with the same words.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.db.inline_constants import inline_list
from notifier.db.schema import job_runs, reminders_sent
from notifier.delivery.ledger import SlotKey
from notifier.rules.kinds import CHANNELS, EMAIL, KINDS, LEDGER_KINDS

STATUSES: tuple[str, ...] = ("pending", "sent", "failed", "skipped")
KIND_NAMES: tuple[str, ...] = tuple(kind.name for kind in LEDGER_KINDS)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# The columns of contract section 2, and the row's own id (the detail page's address).
COLUMNS = (
    "id",
    "kind",
    "entity_id",
    "user_id",
    "slot",
    "channel",
    "status",
    "attempts",
    "message_id",
    "created_at",
    "sent_at",
    "last_error",
)
_SELECTED = [reminders_sent.c[name] for name in COLUMNS]
# A status filter's partial index (migration 0007 and ``ix_reminders_sent_pending_lease``), as
# the predicate's list of values.
STATUS_INDEXES = {
    "failed": ("failed", "skipped"),
    "skipped": ("failed", "skipped"),
    "pending": ("pending",),
}


class BadInput(ValueError):
    """A request value that cannot be used; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's ``created_at`` and ``id`` (the next page is older)."""

    created_at: datetime
    id: uuid.UUID

    def token(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Search:
    """One search: equality filters, a span of ``created_at``, a page."""

    equal: Mapping[str, Any] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    before: Cursor | None = None
    limit: int = DEFAULT_LIMIT

    def with_before(self, cursor: Cursor | None) -> Search:
        return Search(self.equal, self.since, self.until, cursor, self.limit)


def parse_uuid(name: str, text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadInput(name, "is not a uuid") from None


def parse_instant(name: str, text: str) -> datetime:
    """An ISO 8601 instant with a zone (``Z`` accepted), as UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(name, "is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise BadInput(name, "needs a zone, e.g. 2026-03-08T14:00:00Z")
    return value.astimezone(UTC)


def _choice(name: str, text: str, allowed: Sequence[str]) -> str:
    if text not in allowed:
        raise BadInput(name, f"must be one of {', '.join(allowed)}")
    return text


def parse_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        return Cursor(parse_instant("before", stamp), parse_uuid("before", ident))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadInput("before", "is not a page cursor from this console") from None


def parse_limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadInput("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


_EQUAL: dict[str, Callable[[str], object]] = {
    "user_id": lambda text: parse_uuid("user_id", text),
    "entity_id": lambda text: parse_uuid("entity_id", text),
    "kind": lambda text: _choice("kind", text, KIND_NAMES),
    "channel": lambda text: _choice("channel", text, CHANNELS),
    "status": lambda text: _choice("status", text, STATUSES),
}


def parse_search(params: Mapping[str, str]) -> Search:
    """The search a query string asks for; empty values are no filter (pure)."""
    given = {name: value.strip() for name, value in params.items() if value.strip()}
    equal = {name: parse(given[name]) for name, parse in _EQUAL.items() if name in given}
    since = parse_instant("since", given["since"]) if "since" in given else None
    until = parse_instant("until", given["until"]) if "until" in given else None
    before = parse_cursor(given["before"]) if "before" in given else None
    limit = parse_limit(given["limit"]) if "limit" in given else DEFAULT_LIMIT
    return Search(equal, since, until, before, limit)


def _conditions(search: Search) -> list[ColumnElement[bool]]:
    rs = reminders_sent.c
    conds: list[ColumnElement[bool]] = [rs[name] == value for name, value in search.equal.items()]
    status = search.equal.get("status")
    if status in STATUS_INDEXES:
        # The partial index's predicate in the text (``db.inline_constants``): a generic plan
        # of the prepared statement (the status itself a parameter) can still use the index.
        conds.append(rs.status.op("IN")(inline_list(STATUS_INDEXES[status])))
    if "entity_id" in search.equal and "kind" not in search.equal:
        # The unique key leads with kind: one index probe per kind finds the entity's rows.
        conds.append(rs.kind.in_(KIND_NAMES))
    if search.since is not None:
        conds.append(rs.created_at >= search.since)
    if search.until is not None:
        conds.append(rs.created_at < search.until)
    if search.before is not None:
        at, ident = search.before.created_at, search.before.id
        conds.append(rs.created_at <= at)  # an index bound even where id is not indexed
        conds.append(tuple_(rs.created_at, rs.id) < tuple_(at, ident))
    return conds


def search_query(search: Search) -> Select[Any]:
    """One page of rows, newest first; one row more than the page, to tell if more follow."""
    rs = reminders_sent.c
    return (
        select(*_SELECTED)
        .where(*_conditions(search))
        .order_by(rs.created_at.desc(), rs.id.desc())
        .limit(search.limit + 1)
    )


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next: Cursor | None


async def search_deliveries(conn: AsyncConnection, search: Search) -> Page:
    found = [dict(r) for r in (await conn.execute(search_query(search))).mappings()]
    rows = found[: search.limit]
    more = len(found) > search.limit
    last = rows[-1] if rows and more else None
    return Page(rows, Cursor(last["created_at"], last["id"]) if last else None)


async def delivery(conn: AsyncConnection, row_id: uuid.UUID) -> dict[str, Any] | None:
    stmt = select(*_SELECTED).where(reminders_sent.c.id == row_id)
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


def as_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger row for JSON: uuids and instants as text (ISO 8601)."""
    return {name: _plain(row[name]) for name in COLUMNS if name in row}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# The overview.


@dataclass(frozen=True)
class Tally:
    kind: str
    channel: str
    status: str
    count: int


async def day_tallies(conn: AsyncConnection, now: datetime) -> list[Tally]:
    """Rows recorded in the 24 hours before ``now``, by kind, channel and status."""
    rs = reminders_sent.c
    stmt = (
        select(rs.kind, rs.channel, rs.status, func.count())
        .where(rs.created_at > now - timedelta(hours=24), rs.created_at <= now)
        .group_by(rs.kind, rs.channel, rs.status)
        .order_by(rs.kind, rs.channel, rs.status)
    )
    return [Tally(*row) for row in (await conn.execute(stmt)).all()]


async def recent_failures(conn: AsyncConnection, now: datetime, limit: int = 20) -> Page:
    since = now - timedelta(hours=24)
    search = Search({"status": "failed"}, since=since, until=now, limit=limit)
    return await search_deliveries(conn, search)


async def recent_ticks(conn: AsyncConnection, job: str, limit: int = 10) -> list[dict[str, Any]]:
    """The job's newest ``job_runs`` rows (``ix_job_runs_job_name_started_at``)."""
    j = job_runs.c
    stmt = select(job_runs).where(j.job_name == job).order_by(j.started_at.desc()).limit(limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


# A slot named by text (the API's JSON body, ``notifier resend``'s options).


def _text(data: Mapping[str, object], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise BadInput(name, "is required (text)")
    return value.strip()


def parse_slot_key(data: Mapping[str, object]) -> SlotKey:
    """The slot a re-send names: kind, entity, user, slot instant, channel (default email)."""
    return SlotKey(
        kind=_choice("kind", _text(data, "kind"), tuple(kind.name for kind in KINDS)),
        entity_id=parse_uuid("entity_id", _text(data, "entity_id")),
        user_id=parse_uuid("user_id", _text(data, "user_id")),
        slot=parse_instant("slot", _text(data, "slot")),
        channel=_choice("channel", _text(data, "channel", EMAIL), CHANNELS),
    )
