"""The operator console (contract section 11) through a real ``notifier web`` process: the
404 without ``ADMIN_PASSWORD``, the bearer, the deliveries filters and keyset pages, bad
input, re-sends (a failed delivery goes out with the same Message-ID, a cancelled
appointment does not), ``notifier resend``, CSRF, cookies and headers, and the throttle."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select, update

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.db.schema import appointments, reminders_sent
from notifier.delivery.ledger import SlotKey
from notifier.ops.deliveries import Tally
from notifier.ops.resend import replay_instant
from notifier.rules.kinds import KINDS
from notifier.services.appointment_reminders import run_tick as remind
from notifier.services.daily_digest import run_tick as digest
from notifier.services.overdue_scanner import run_tick as overdue_tick
from notifier.services.task_due_reminders import run_tick as task_due_tick
from notifier.services.task_reminders import run_tick as task_reminder_tick
from notifier.web.admin.auth import FREE_FAILURES, Throttle
from notifier.web.admin.chart import deliveries_chart
from tests.conftest import real_clock
from tests.support.data import Data
from tests.support.local_time_data import LocalTimeData
from tests.support.processes import run_notifier, service_env, start_notifier
from tests.support.servers import free_port
from tests.support.smtp import CaptureServer
from tests.support.task_data import TaskData
from tests.support.worker import wait_until

PASSWORD = "correct-horse-battery-staple"
SECRET = "test-secret-key-0123456789"
EMAIL = "pat@example.com"
START = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
SLOT = START - timedelta(minutes=60)  # the default 60-minute reminder


@dataclass(frozen=True)
class Web:
    base: str

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def start_web(settings: Settings, tmp_path: Path, **extra: str) -> Iterator[Web]:
    """A real `notifier web` process on a free port (stopped, and its exit checked, after)."""
    port = free_port()
    env = service_env(settings, SECRET_KEY=SECRET, WEB_PORT=str(port), **extra)
    log = tmp_path / f"web-{port}.log"
    process = start_notifier(["web"], env, log)
    try:
        yield Web(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, log.read_text()


async def up(web: Web, path: str, status: int) -> None:
    async def answers() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(web.url(path)) as response:
                return response.status == status
        except aiohttp.ClientError:
            return False

    await wait_until(answers, 30, "notifier web to listen")


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"admin_password": SecretStr(PASSWORD), "secret_key": SecretStr(SECRET)}
    )


@pytest.fixture
async def console_services(console_settings: Settings) -> AsyncIterator[Services]:
    services = open_services(console_settings, real_clock)
    yield services
    await close_services(services)


@pytest.fixture
async def console(settings: Settings, tmp_path: Path) -> AsyncIterator[Web]:
    for web in start_web(settings, tmp_path, ADMIN_PASSWORD=PASSWORD):
        await up(web, "/admin/login", 200)
        yield web


def auth(password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": f"Bearer {password}"}


async def api_get(web: Web, path: str, **params: str) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(web.url(path), params=params, headers=auth()) as response,
    ):
        return response.status, await response.json(), response.headers


async def api_resend(web: Web, body: object) -> tuple[int, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    async with (
        aiohttp.ClientSession() as http,
        http.post(web.url("/admin/api/resend"), data=text, headers=auth()) as response,
    ):
        return response.status, await response.json()


async def reminder_failed(services: Services, data: Data, mailbox: CaptureServer) -> SlotKey:
    """An appointment reminder the relay refused for good (550): a ``failed`` row."""
    user = await data.user(email=EMAIL)
    appointment = await data.appointment(user, START, client_id=await data.client())
    mailbox.handler.reject.add(EMAIL)
    assert (await remind(services, SLOT)).failed == 1
    mailbox.handler.reject.discard(EMAIL)
    return SlotKey("appointment_reminder", appointment, user, SLOT)


def resend_body(key: SlotKey) -> dict[str, str]:
    return {
        "kind": key.kind,
        "entity_id": str(key.entity_id),
        "user_id": str(key.user_id),
        "slot": key.slot.isoformat(),
        "channel": key.channel,
    }


async def ledger(services: Services) -> list[tuple[Any, ...]]:
    rs = reminders_sent.c
    async with services.engine.connect() as conn:
        stmt = select(rs.id, rs.status, rs.attempts, rs.created_at).order_by(rs.id)
        return [tuple(r) for r in await conn.execute(stmt)]


async def test_without_admin_password_every_admin_path_answers_404(
    settings: Settings, tmp_path: Path
) -> None:
    for web in start_web(settings, tmp_path):
        await up(web, "/admin/login", 404)
        async with aiohttp.ClientSession() as http:
            for path in ("/admin", "/admin/", "/admin/deliveries", "/admin/api/deliveries"):
                async with http.get(web.url(path), headers=auth()) as response:
                    assert response.status == 404, path
            for path in ("/admin/login", "/admin/api/resend"):
                async with http.post(web.url(path), data="{}") as response:
                    assert response.status == 404, path


async def test_the_api_needs_the_bearer_and_never_returns_a_secret(console: Web) -> None:
    async with aiohttp.ClientSession() as http:
        url = console.url("/admin/api/deliveries")
        for headers in ({}, auth("wrong-password-0000"), {"Authorization": PASSWORD}):
            async with http.get(url, headers=headers) as r:
                assert r.status == 401 and PASSWORD not in await r.text(), headers
            async with http.post(console.url("/admin/api/resend"), headers=headers) as r:
                assert r.status == 401
        async with http.get(url, headers=auth()) as r:
            assert r.status == 200 and await r.json() == []
            assert r.headers["X-Frame-Options"] == "DENY"
            assert "script-src" not in r.headers["Content-Security-Policy"]


async def _seed_ledger(services: Services) -> list[dict[str, Any]]:
    """Twelve rows, one minute apart, over two users, kinds, channels and statuses."""
    users = [uuid.uuid4(), uuid.uuid4()]
    kinds = ["appointment_reminder", "task_due", "daily_digest"]
    channels = ["email", "in_app", "webhook"]
    statuses = ["sent", "failed", "skipped", "sent"]
    rows = [
        {
            "id": uuid.uuid4(),
            "kind": kinds[n % 3],
            "entity_id": uuid.uuid4(),
            "user_id": users[n % 2],
            "slot": START + timedelta(minutes=n),
            "channel": channels[n % 3],
            "status": statuses[n % 4],
            "attempts": n % 3,
            "created_at": START + timedelta(minutes=n),
            "last_error": "550 mailbox unavailable" if statuses[n % 4] == "failed" else None,
        }
        for n in range(12)
    ]
    async with services.engine.begin() as conn:
        await conn.execute(insert(reminders_sent), rows)
    return rows


async def test_filters_each_column_newest_first_in_keyset_pages(
    console_services: Services, console: Web
) -> None:
    rows = await _seed_ledger(console_services)
    newest_first = [str(r["id"]) for r in reversed(rows)]
    status, found, _ = await api_get(console, "/admin/api/deliveries")
    assert status == 200 and [r["id"] for r in found] == newest_first
    assert set(found[0]) >= {"kind", "entity_id", "user_id", "slot", "channel", "status"}
    assert set(found[0]) >= {"attempts", "message_id", "created_at", "sent_at", "last_error"}
    for column in ("user_id", "entity_id", "kind", "channel", "status"):
        value = rows[4][column]
        _, hits, _ = await api_get(console, "/admin/api/deliveries", **{column: str(value)})
        expected = [str(r["id"]) for r in reversed(rows) if r[column] == value]
        assert [h["id"] for h in hits] == expected, column
    for wanted in ("sent", "failed", "skipped", "pending"):  # each through its own index
        _, hits, _ = await api_get(console, "/admin/api/deliveries", status=wanted)
        expected = [str(r["id"]) for r in reversed(rows) if r["status"] == wanted]
        assert [h["id"] for h in hits] == expected, wanted
    since = (START + timedelta(minutes=3)).isoformat()
    until = (START + timedelta(minutes=6)).isoformat()
    _, span, _ = await api_get(console, "/admin/api/deliveries", since=since, until=until)
    assert [h["id"] for h in span] == newest_first[6:9]
    seen: list[str] = []
    params = {"limit": "5"}
    while True:
        status, page, headers = await api_get(console, "/admin/api/deliveries", **params)
        assert status == 200 and len(page) <= 5
        seen += [h["id"] for h in page]
        if "X-Next-Before" not in headers:
            break
        params = {"limit": "5", "before": headers["X-Next-Before"]}
    assert seen == newest_first


async def test_bad_input_answers_400_or_404_naming_the_field_and_changes_nothing(
    console_services: Services, data: Data, mailbox: CaptureServer, console: Web
) -> None:
    key = await reminder_failed(console_services, data, mailbox)
    before = await ledger(console_services)
    for params, field in (
        ({"user_id": "nope"}, "user_id"),
        ({"entity_id": "1234"}, "entity_id"),
        ({"kind": "bogus"}, "kind"),
        ({"channel": "fax"}, "channel"),
        ({"status": "lost"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-03-09T10:00:00"}, "until"),
        ({"before": "garbage!"}, "before"),
        ({"limit": "0"}, "limit"),
    ):
        status, body, _ = await api_get(console, "/admin/api/deliveries", **params)
        assert (status, body["field"]) == (400, field), params
    good = resend_body(key)
    for body, field, code in (
        ("not json", "body", 400),
        ([1, 2], "body", 400),
        ({**good, "kind": None}, "kind", 400),
        ({**good, "kind": "bogus"}, "kind", 400),
        ({**good, "entity_id": "x"}, "entity_id", 400),
        ({**good, "user_id": ""}, "user_id", 400),
        ({**good, "slot": "soon"}, "slot", 400),
        ({**good, "channel": "pigeon"}, "channel", 400),
        ({**good, "slot": (SLOT + timedelta(seconds=1)).isoformat()}, "slot", 404),
        ({**good, "entity_id": str(uuid.uuid4())}, "slot", 404),
    ):
        status, answer = await api_resend(console, body)
        assert (status, answer["field"]) == (code, field), body
        assert field in answer["error"]
    assert await ledger(console_services) == before
    assert mailbox.messages == []


async def test_resending_a_failed_delivery_sends_it_with_the_same_message_id(
    console_services: Services, data: Data, mailbox: CaptureServer, console: Web
) -> None:
    key = await reminder_failed(console_services, data, mailbox)
    status, row = await api_resend(console, resend_body(key))
    assert status == 200 and row["resent"] is True and row["status"] == "sent"
    expected = console_services.channels["email"].ident(key)
    assert row["message_id"] == expected
    [caught] = mailbox.messages
    assert caught.parsed()["Message-ID"] == expected
    assert caught.kind == "appointment_reminder"
    # Once more, on purpose, from the shell: the same id again, the reminder's own text.
    env = service_env(console_services.settings)
    done = run_notifier(
        [
            "resend",
            key.kind,
            "--entity",
            str(key.entity_id),
            "--user",
            str(key.user_id),
            "--slot",
            key.slot.isoformat().replace("+00:00", "Z"),
        ],
        env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "sent"
    _first, second = mailbox.messages
    assert second.parsed()["Message-ID"] == expected
    assert "in 1 hour" in second.parsed()["Subject"]
    assert EMAIL not in done.stderr and "Casey" not in done.stderr
    assert re.search(r'"event": "resend"', done.stderr)
    # An in-app slot recorded sent is in the user's feed already: refused, nothing changed.
    in_app = key.on("in_app")
    row = {"id": uuid.uuid4(), "kind": in_app.kind, "entity_id": in_app.entity_id}
    row |= {"user_id": in_app.user_id, "slot": in_app.slot, "channel": "in_app"}
    async with console_services.engine.begin() as conn:
        stmt = insert(reminders_sent).values(**row, status="sent", attempts=1, created_at=START)
        await conn.execute(stmt)
    before = await ledger(console_services)
    status, answer = await api_resend(console, resend_body(in_app))
    assert (status, answer["field"]) == (409, "channel") and "feed" in answer["error"]
    assert await ledger(console_services) == before


async def test_a_cancelled_appointment_is_not_resent_and_its_row_stays(
    console_services: Services, data: Data, mailbox: CaptureServer, console: Web
) -> None:
    user = await data.user(email=EMAIL)
    appointment = await data.appointment(user, START)
    assert (await remind(console_services, SLOT)).sent == 1
    async with console_services.engine.begin() as conn:
        stmt = update(appointments).where(appointments.c.id == appointment)
        await conn.execute(stmt.values(status="cancelled"))
    before = await ledger(console_services)
    key = SlotKey("appointment_reminder", appointment, user, SLOT)
    status, row = await api_resend(console, resend_body(key))
    assert status == 409 and row["resent"] is False and "cancelled" in row["reason"]
    assert row["status"] == "sent"
    assert len(mailbox.messages) == 1
    assert await ledger(console_services) == before
    env = service_env(console_services.settings)
    args = ["resend", key.kind, "--entity", str(appointment), "--user", str(user)]
    done = run_notifier([*args, "--slot", "tomorrow"], env)
    assert done.returncode == 2 and "slot" in done.stderr
    done = run_notifier([*args, "--slot", SLOT.isoformat()], env)
    assert done.returncode == 1 and json.loads(done.stdout)["resent"] is False
    assert len(mailbox.messages) == 1


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def _sign_in(http: aiohttp.ClientSession, web: Web, password: str = PASSWORD) -> int:
    async with http.get(web.url("/admin/login")) as page:
        token = _csrf(await page.text())
    form = {"csrf": token, "password": password}
    async with http.post(web.url("/admin/login"), data=form, allow_redirects=False) as answer:
        return answer.status


async def test_sessions_cookies_headers_and_csrf(console: Web) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(console.url("/admin/"), allow_redirects=False) as page:
            assert page.status == 303 and page.headers["Location"] == "/admin/login"
        async with http.get(console.url("/admin/login")) as page:
            cookie = page.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
            assert "Secure" not in cookie  # PUBLIC_BASE_URL is not https here
            assert page.headers["X-Frame-Options"] == "DENY"
            assert page.headers["Referrer-Policy"] == "no-referrer"
            csp = page.headers["Content-Security-Policy"]
            assert "script-src" not in csp and "default-src 'none'" in csp
        login = {"password": PASSWORD}
        async with http.post(console.url("/admin/login"), data=login) as refused:
            assert refused.status == 403
        assert await _sign_in(http, console) == 303
        async with http.get(console.url("/admin/")) as page:
            html = await page.text()
            assert page.status == 200 and "<svg" in html and "<script" not in html
            token = _csrf(html)
        for path in ("/admin/jobs/cleanup/run", "/admin/logout"):
            async with http.post(console.url(path), data={"at": ""}) as refused:
                assert refused.status == 403, path
            async with http.post(console.url(path), data={"csrf": "forged"}) as refused:
                assert refused.status == 403, path
        async with http.post(console.url("/admin/jobs/cleanup/run"), data={"csrf": token}) as ran:
            assert ran.status == 200 and "Ran <strong>cleanup</strong>" in await ran.text()
        bad_at = {"csrf": token, "at": "soon"}
        async with http.post(console.url("/admin/jobs/cleanup/run"), data=bad_at) as refused:
            assert (
                refused.status == 400 and "at: is not an ISO 8601 instant" in await refused.text()
            )
        for path in ("/admin/deliveries", "/admin/jobs", f"/admin/users/{uuid.uuid4()}"):
            async with http.get(console.url(path)) as page:
                assert page.status in (200, 404) and "<script" not in await page.text()
        async with http.get(console.url("/admin/deliveries?user_id=<script>")) as page:
            body = await page.text()
            assert page.status == 400 and "<script>" not in body and "user_id" in body


async def test_a_sign_in_flood_is_slowed_down_per_address(console: Web) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        statuses = [await _sign_in(http, console, f"guess-{n:04d}-guess") for n in range(12)]
        assert statuses[:5] == [401] * 5
        assert statuses[6:] == [429] * 6, statuses
        assert await _sign_in(http, console) == 429  # even the right password waits
        async with http.get(console.url("/admin/api/deliveries"), headers=auth()) as api:
            assert api.status == 429 and int(api.headers["Retry-After"]) >= 1


async def _resent_alike(web: Web, services: Services, mailbox: CaptureServer, key: SlotKey) -> None:
    """A re-send of ``key`` answers 200 ``sent`` and the caught email has the slot's id."""
    caught = len(mailbox.messages)
    status, row = await api_resend(web, resend_body(key))
    assert (status, row["status"], row["resent"]) == (200, "sent", True), row
    assert len(mailbox.messages) == caught + 1
    expected = services.channels["email"].ident(key)
    assert mailbox.messages[-1].parsed()["Message-ID"] == expected == row["message_id"]


async def test_each_kind_is_replayed_through_its_own_batch_step(
    console_services: Services, mailbox: CaptureServer, console: Web
) -> None:
    people = LocalTimeData(console_services.engine)
    digest_user = await people.digest_user("Europe/Berlin", digest_time=time(7, 0))
    assert (await digest(console_services, datetime(2026, 3, 9, 6, 0, tzinfo=UTC))).sent == 1
    day = datetime(2026, 3, 9, tzinfo=UTC)
    await _resent_alike(
        console, console_services, mailbox, SlotKey("daily_digest", digest_user, digest_user, day)
    )

    tasks_data = TaskData(console_services.engine)
    user = await tasks_data.user(email=EMAIL)
    due = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    task = await tasks_data.task(user, due)
    reminder = await tasks_data.reminder(task, user, due - timedelta(hours=3))
    assert (await task_reminder_tick(console_services, due - timedelta(hours=3))).sent == 1
    assert (await task_due_tick(console_services, due - timedelta(hours=2))).sent == 1
    assert (await overdue_tick(console_services, due + timedelta(minutes=1))).sent == 1
    for key in (
        SlotKey("task_reminder", reminder, user, due - timedelta(hours=3)),
        SlotKey("task_due", task, user, due),
        SlotKey("task_overdue", task, user, due),
    ):
        await _resent_alike(console, console_services, mailbox, key)
    assert (await tasks_data.get_reminder(reminder))["sent"] is True
    assert (await tasks_data.get_task(task))["status"] == "overdue"
    # A completed task's reminder is not re-sent, and its marks stay as they were.
    await tasks_data.update_task(task, completed=True, completed_at=due)
    caught = len(mailbox.messages)
    status, row = await api_resend(
        console, resend_body(SlotKey("task_reminder", reminder, user, due - timedelta(hours=3)))
    )
    assert status == 409 and row["resent"] is False and row["status"] in ("sent", "skipped")
    assert len(mailbox.messages) == caught
    assert (await tasks_data.get_reminder(reminder))["sent"] is True


def test_replay_instants_throttle_and_chart_are_pure_and_safe() -> None:
    for kind in KINDS:
        local_due = SLOT + timedelta(hours=7)
        at = replay_instant(kind, SLOT, local_due)
        assert at is not None and abs(at - SLOT) <= timedelta(days=1), kind.name
    throttle = Throttle()
    for n in range(FREE_FAILURES):
        assert throttle.wait("10.0.0.1", float(n)) == 0
        throttle.failed("10.0.0.1", float(n))
    throttle.failed("10.0.0.1", 10.0)
    assert throttle.wait("10.0.0.1", 10.0) == 1.0 and throttle.wait("10.0.0.2", 10.0) == 0
    throttle.failed("10.0.0.1", 11.0)
    assert throttle.wait("10.0.0.1", 11.0) == 2.0
    svg = deliveries_chart([Tally("<script>alert(1)</script>", "email", "sent", 3)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
