"""The console's pages: server-rendered HTML with plain forms, working without JavaScript.

Pages show ids, addresses, statuses, counts and errors; never a message body nor a client's
name (nor the user's own name). Every re-send and run-now is logged with the action and ids.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select

from notifier.db.schema import notification_preferences
from notifier.delivery.ledger import FINAL_STATUSES, SlotKey
from notifier.health.evaluate import health_body
from notifier.health.probe import database_ok, job_facts, redis_depth
from notifier.jobs.runs import run_recorded
from notifier.ops.deliveries import (
    KIND_NAMES,
    STATUSES,
    BadInput,
    Page,
    Search,
    Tally,
    day_tallies,
    delivery,
    parse_instant,
    parse_search,
    parse_uuid,
    recent_failures,
    recent_ticks,
    search_deliveries,
)
from notifier.ops.resend import ResendError, resend
from notifier.ops.upcoming import build_report, make_span, report_json
from notifier.ops.users import UserNotFoundError
from notifier.rules.kinds import BY_NAME, CHANNELS, JOB_NAMES
from notifier.timemath.zones import UnknownZoneError
from notifier.web.admin.auth import fresh_session, same_password
from notifier.web.admin.chart import deliveries_chart
from notifier.web.admin.console import (
    HERE,
    Console,
    client_address,
    console_of,
    set_session,
)
from notifier.worker import job_schedules

log = structlog.get_logger("notifier.console")
UPCOMING_HOURS = 48
TALLY_EVERY = timedelta(minutes=1)


def render(request: web.Request, name: str, status: int = 200, **values: Any) -> web.Response:
    """A template with the session's CSRF token and the navigation."""
    session = request.get("session")
    template = console_of(request).templates.get_template(name)
    text = template.render(csrf=session.csrf if session else "", page=name, **values)
    return web.Response(status=status, text=text, content_type="text/html")


def refusal(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", status=status, message=message)


# Signing in and out.


async def login_form(request: web.Request, message: str | None = None) -> web.Response:
    session = request["session"]
    if session is None or session.signed_in:
        session = fresh_session(signed_in=False)
        request["session"] = session
    response = render(request, "login.html", status=401 if message else 200, message=message)
    set_session(console_of(request), response, session)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    console, address = console_of(request), client_address(request)
    wait = console.throttle.wait(address, time.monotonic())
    if wait > 0:
        text = f"Too many failed sign-ins from this address: try again in {wait:.0f} s."
        return web.Response(status=429, text=text, headers={"Retry-After": f"{wait:.0f}"})
    given = (await request.post()).get("password")
    if not isinstance(given, str) or not same_password(given, console.password):
        console.throttle.failed(address, time.monotonic())
        log.info("console_sign_in_refused")
        return await login_form(request, "Wrong password.")
    console.throttle.succeeded(address)
    log.info("console_signed_in")
    response = web.HTTPSeeOther("/admin/")
    set_session(console, response, fresh_session(signed_in=True))
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/admin/login")
    response.del_cookie("notifier_admin", path="/admin")
    raise response


# The overview.


async def health_verdict(request: web.Request) -> dict[str, object]:
    """The body ``/health`` would answer, from this process's view of the same facts."""
    console = console_of(request)
    services, now = console.live(), console.clock()
    depth = await redis_depth(console.redis) if console.redis else None
    db_ok = await database_ok(services.engine)
    schedules = job_schedules(console.settings)
    jobs = await job_facts(services.engine, schedules, now) if db_ok else []
    _, body = health_body(
        redis_ok=depth is not None,
        database_ok=db_ok,
        jobs=jobs,
        queue_depth=depth,
        now=now,
        worker_started=console.started or now,
    )
    return body


async def overview(request: web.Request) -> web.Response:
    """The three parts run at once, each on its own connection: the 24-hour tallies (a range
    of ``ix_reminders_sent_created_at``, the bulk of the time, counted once a minute) need
    not wait for the dozens of small reads of the health verdict and the jobs' ticks."""
    console = console_of(request)
    now = console.clock()
    health, (as_of, tallies), (failures, ticks) = await asyncio.gather(
        health_verdict(request), _tallies(console, now), _recent(console, now)
    )
    return render(
        request,
        "overview.html",
        health=health,
        ticks=ticks,
        chart=Markup(deliveries_chart(tallies)),  # noqa: S704 (built escaped by chart.py)
        failures=failures.rows,
        now=now,
        as_of=as_of,
    )


async def _tallies(console: Console, now: datetime) -> tuple[datetime, list[Tally]]:
    """The 24 hours up to ``now``, counted at most once a minute whatever the number of
    operators reloading: the count reads every row of the day (a third of a million at ten
    million rows a month), the rest of the page a few dozen index entries."""
    async with console.tallies_lock:
        if console.tallies is None or now - console.tallies[0] >= TALLY_EVERY:
            async with console.live().engine.connect() as conn:
                console.tallies = (now, await day_tallies(conn, now))
        return console.tallies


async def _recent(console: Console, now: datetime) -> tuple[Page, dict[str, list[Any]]]:
    async with console.live().engine.connect() as conn:
        failures = await recent_failures(conn, now)
        return failures, {job: await recent_ticks(conn, job, 10) for job in JOB_NAMES}


# Deliveries.


def _query_of(search: Search, params: Mapping[str, str]) -> str:
    kept = {k: v for k, v in params.items() if k != "before" and v}
    if search.before is None:
        return urlencode(kept)
    return urlencode({**kept, "before": search.before.token()})


async def deliveries_page(request: web.Request) -> web.Response:
    params = dict(request.query)
    try:
        search = parse_search(params)
    except BadInput as exc:
        return _deliveries(request, params=params, rows=[], older=None, error=str(exc), status=400)
    async with console_of(request).live().engine.connect() as conn:
        page = await search_deliveries(conn, search)
    older = _query_of(search.with_before(page.next), params) if page.next else None
    return _deliveries(request, params=params, rows=page.rows, older=older, error=None, status=200)


def _deliveries(
    request: web.Request,
    *,
    params: Mapping[str, str],
    rows: list[dict[str, Any]],
    older: str | None,
    error: str | None,
    status: int,
) -> web.Response:
    return render(
        request,
        "deliveries.html",
        status=status,
        params=params,
        rows=rows,
        older=older,
        error=error,
        kinds=KIND_NAMES,
        channels=CHANNELS,
        statuses=STATUSES,
    )


async def _row_or_404(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        row_id = parse_uuid("id", request.match_info["row_id"])
    except BadInput as exc:
        return refusal(request, 400, str(exc))
    async with console_of(request).live().engine.connect() as conn:
        row = await delivery(conn, row_id)
    return row if row is not None else refusal(request, 404, "No such delivery.")


async def delivery_page(request: web.Request) -> web.Response:
    row = await _row_or_404(request)
    if isinstance(row, web.Response):
        return row
    return _delivery(request, row, None)


def _delivery(request: web.Request, row: Mapping[str, Any], outcome: str | None) -> web.Response:
    kind = BY_NAME.get(row["kind"])
    final = row["status"] in FINAL_STATUSES and kind is not None
    return render(request, "delivery.html", row=row, can_resend=final, outcome=outcome)


async def resend_row(request: web.Request) -> web.StreamResponse:
    row = await _row_or_404(request)
    if isinstance(row, web.Response):
        return row
    key = SlotKey(row["kind"], row["entity_id"], row["user_id"], row["slot"], row["channel"])
    log.info(
        "console_resend",
        kind=key.kind,
        entity_id=str(key.entity_id),
        user_id=str(key.user_id),
        channel=key.channel,
    )
    try:
        result = await resend(console_of(request).live(), key)
    except ResendError as exc:
        return refusal(request, exc.status, f"{exc.field}: {exc}")
    outcome = "Sent again." if result.resent else f"Not sent: {result.reason}"
    return _delivery(request, result.row, outcome)


# A user.


async def user_lookup(request: web.Request) -> web.StreamResponse:
    text = request.query.get("user_id", "").strip()
    try:
        user_id = parse_uuid("user_id", text)
    except BadInput as exc:
        return refusal(request, 400, str(exc))
    raise web.HTTPSeeOther(f"/admin/users/{user_id}")


async def user_page(request: web.Request) -> web.Response:
    console = console_of(request)
    try:
        user_id = parse_uuid("user_id", request.match_info["user_id"])
    except BadInput as exc:
        return refusal(request, 400, str(exc))
    services = console.live()
    try:
        report = await build_report(
            services.engine, user_id, make_span(console.settings, console.clock(), UPCOMING_HOURS)
        )
    except UserNotFoundError:
        return refusal(request, 404, "No such user.")
    except UnknownZoneError:
        return refusal(request, 200, "This user's time zone is not a known zone name.")
    async with services.engine.connect() as conn:
        prefs = await _preferences(conn, user_id)
        recent = await search_deliveries(conn, Search({"user_id": user_id}, limit=20))
    return render(
        request,
        "user.html",
        user=report.user,
        recipient=report.user.recipient,
        upcoming=report_json(report),
        preferences=prefs,
        recent=recent.rows,
        user_id=user_id,
    )


async def _preferences(conn: Any, user_id: uuid.UUID) -> list[Any]:
    p = notification_preferences.c
    stmt = select(p.kind, p.channel, p.enabled).where(p.user_id == user_id).order_by(p.kind)
    return list((await conn.execute(stmt)).all())


# Jobs.


async def jobs_page(request: web.Request, summary: Mapping[str, Any] | None = None) -> web.Response:
    console = console_of(request)
    async with console.live().engine.connect() as conn:
        ticks = {job: await recent_ticks(conn, job, 5) for job in JOB_NAMES}
    return render(request, "jobs.html", ticks=ticks, summary=summary)


async def run_job(request: web.Request) -> web.Response:
    job = request.match_info["job"]
    if job not in JOB_NAMES:
        return refusal(request, 404, "No such job.")
    text = (await request.post()).get("at")
    try:
        at = _instant(text) or console_of(request).clock()
    except BadInput as exc:
        return refusal(request, 400, str(exc))
    log.info("console_run_now", job=job, at=at.isoformat())
    counts = await run_recorded(console_of(request).live(), job, at)
    return await jobs_page(request, {"job": job, "at": at, **counts.as_dict()})


def _instant(text: object) -> datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return parse_instant("at", text)


async def stylesheet(request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / "console.css", headers={"Content-Type": "text/css"})


def add_routes(admin: web.Application) -> None:
    admin.router.add_get("/login", login_form)
    admin.router.add_post("/login", login)
    admin.router.add_post("/logout", logout)
    admin.router.add_get("/", overview)
    admin.router.add_get("/deliveries", deliveries_page)
    admin.router.add_get("/deliveries/{row_id}", delivery_page)
    admin.router.add_post("/deliveries/{row_id}/resend", resend_row)
    admin.router.add_get("/users", user_lookup)
    admin.router.add_get("/users/{user_id}", user_page)
    admin.router.add_get("/jobs", jobs_page)
    admin.router.add_post("/jobs/{job}/run", run_job)
    admin.router.add_get("/static/console.css", stylesheet)
