"""The console's JSON API (contract section 11), for scripts and outside tests.

``GET /admin/api/deliveries`` answers a JSON array of ledger rows, newest first; filters
``user_id``, ``entity_id``, ``kind``, ``channel``, ``status``, ``since``/``until`` (on
``created_at``), and keyset pages: ``limit`` (1–500, default 50) and ``before`` (the cursor in
the ``X-Next-Before`` header of the previous page; absent on the last page).

``POST /admin/api/resend`` with ``{"kind", "entity_id", "user_id", "slot", "channel"}`` answers
the slot's row with ``resent`` and ``reason``: 200 when a message went out again, 409 when the
current state sent nothing (a cancelled appointment), 404 for a slot never recorded. Bad
input answers 400 naming the field and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from notifier.ops.deliveries import (
    BadInput,
    as_json,
    parse_search,
    parse_slot_key,
    search_deliveries,
)
from notifier.ops.resend import ResendError, resend
from notifier.web.admin.console import console_of


def bad(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status)


async def deliveries(request: web.Request) -> web.Response:
    try:
        search = parse_search(request.query)
    except BadInput as exc:
        return bad(400, exc.field, str(exc))
    async with console_of(request).live().engine.connect() as conn:
        page = await search_deliveries(conn, search)
    headers = {"X-Next-Before": page.next.token()} if page.next else {}
    return web.json_response([as_json(row) for row in page.rows], headers=headers)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise BadInput("body", "is not JSON") from None
    if not isinstance(data, dict):
        raise BadInput("body", "must be a JSON object")
    return data


async def resend_slot(request: web.Request) -> web.Response:
    try:
        key = parse_slot_key(await _body(request))
        result = await resend(console_of(request).live(), key)
    except BadInput as exc:
        return bad(400, exc.field, str(exc))
    except ResendError as exc:
        return bad(exc.status, exc.field, f"{exc.field}: {exc}")
    body = {**as_json(result.row), "resent": result.resent, "reason": result.reason}
    return web.json_response(body, status=200 if result.resent else 409)


def add_routes(admin: web.Application) -> None:
    admin.router.add_get("/api/deliveries", deliveries)
    admin.router.add_post("/api/resend", resend_slot)
