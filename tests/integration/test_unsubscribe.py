"""One-click unsubscribe (RFC 8058, contract section 10) end to end: the headers and links of
a caught email, a real ``notifier web`` process, real PostgreSQL, and Chromium pressing the
button."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import delete, select

from notifier.app import Services, close_services, open_services
from notifier.config import Settings
from notifier.content.unsubscribe import make_token
from notifier.db.schema import notification_preferences, notification_settings, users
from notifier.services.appointment_reminders import run_tick as remind
from notifier.services.daily_digest import run_tick as digest
from tests.conftest import real_clock
from tests.support.local_time_data import LocalTimeData, parts, utc
from tests.support.processes import service_env, start_notifier
from tests.support.servers import free_port
from tests.support.smtp import Captured, CaptureServer
from tests.support.worker import wait_until

SECRET = "test-secret-key-0123456789"
PUBLIC = "https://notify.practice.test"
MONDAY = utc(2026, 3, 9, 7, 0)


@dataclass(frozen=True)
class WebServer:
    """A running ``notifier web``; ``local`` turns a public link into one to this process."""

    base: str

    def local(self, link: str) -> str:
        return link.replace(PUBLIC, self.base)


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"secret_key": SecretStr(SECRET), "public_base_url": PUBLIC})


@pytest.fixture
async def web_services(web_settings: Settings) -> AsyncIterator[Services]:
    services = open_services(web_settings, real_clock)
    yield services
    await close_services(services)


@pytest.fixture
def web_server(web_settings: Settings, tmp_path: Path) -> Iterator[WebServer]:
    port = free_port()
    env = service_env(web_settings, SECRET_KEY=SECRET, PUBLIC_BASE_URL=PUBLIC, WEB_PORT=str(port))
    process = start_notifier(["web"], env, tmp_path / "web.log")
    try:
        yield WebServer(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, (tmp_path / "web.log").read_text()


async def _up(server: WebServer) -> None:
    async def answers() -> bool:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{server.base}/unsubscribe/x") as response,
            ):
                return response.status == 400
        except aiohttp.ClientError:
            return False

    await wait_until(answers, 30, "notifier web to listen")


def _link(captured: Captured) -> str:
    """The List-Unsubscribe URL, checked against the visible links of both parts."""
    msg = captured.parsed()
    header = str(msg["List-Unsubscribe"])
    assert header.startswith(f"<{PUBLIC}/unsubscribe/") and header.endswith(">")
    url = header[1:-1]
    _, text, html = parts(captured)
    assert f"Unsubscribe from these emails: {url}" in text
    assert f'<a href="{url}">Unsubscribe from these emails</a>' in html
    return url


async def _preferences(services: Services) -> list[tuple[object, ...]]:
    p = notification_preferences.c
    async with services.engine.connect() as conn:
        rows = await conn.execute(select(p.user_id, p.kind, p.channel, p.enabled))
        return [tuple(row) for row in rows]


async def _digest_user(services: Services) -> uuid.UUID:
    people = LocalTimeData(services.engine)
    return await people.digest_user("UTC", digest_time=time(7, 0))


async def test_subscribed_mail_carries_one_click_headers_and_transactional_mail_does_not(
    web_services: Services, mailbox: CaptureServer
) -> None:
    user = await _digest_user(web_services)
    people = LocalTimeData(web_services.engine)
    await people.appointment(user, MONDAY + timedelta(hours=1))
    assert (await digest(web_services, MONDAY)).sent == 1
    assert (await remind(web_services, MONDAY)).sent == 1
    by_kind = {m.kind: m for m in mailbox.messages}
    daily = by_kind["daily_digest"].parsed()
    assert daily["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert daily["List-Id"] == "Daily digests <daily-digest.notifier.practice.test>"
    assert _link(by_kind["daily_digest"])
    reminder = by_kind["appointment_reminder"].parsed()
    assert reminder["List-Unsubscribe"] is None and reminder["List-Id"] is None
    assert "Manage your notifications" in parts(by_kind["appointment_reminder"])[2]
    for msg in (daily, reminder):
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["Feedback-ID"] == f"{msg['X-Notification-Kind']}:practice.test:notifier"


async def test_get_changes_nothing_and_a_one_click_post_turns_the_kind_off_once(
    web_services: Services, mailbox: CaptureServer, web_server: WebServer
) -> None:
    user = await _digest_user(web_services)
    assert (await digest(web_services, MONDAY)).sent == 1
    link = web_server.local(_link(mailbox.messages[0]))
    await _up(web_server)
    async with aiohttp.ClientSession() as http:
        async with http.get(link) as page:
            body = await page.text()
            assert page.status == 200 and "daily digests" in body and 'method="post"' in body
            assert "pat@example.com" not in body and "Pat" not in body
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert "script-src" not in page.headers["Content-Security-Policy"]
        assert await _preferences(web_services) == []
        async with http.post(link, data={"something": "else"}) as refused:
            assert refused.status == 400
        assert await _preferences(web_services) == []
        for _ in range(2):  # idempotent
            async with http.post(link, data={"List-Unsubscribe": "One-Click"}) as done:
                assert done.status == 200 and "no longer receive" in await done.text()
    assert await _preferences(web_services) == [(user, "daily_digest", "email", False)]
    assert (await digest(web_services, MONDAY + timedelta(days=1))).sent == 0
    assert len(mailbox.messages) == 1


async def test_a_tampered_foreign_or_stale_token_answers_4xx_and_changes_nothing(
    web_services: Services, web_server: WebServer
) -> None:
    user = await _digest_user(web_services)
    good = make_token(SECRET, user, "daily_digest")
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    foreign = make_token("another-secret-key-9876543210", user, "daily_digest")
    transactional = make_token(SECRET, user, "appointment_reminder")
    gone = make_token(SECRET, uuid.uuid4(), "daily_digest")
    await _up(web_server)
    async with aiohttp.ClientSession() as http:
        for token, status in ((tampered, 400), (foreign, 400), (transactional, 400), (gone, 404)):
            url = f"{web_server.base}/unsubscribe/{token}"
            async with http.post(url, data={"List-Unsubscribe": "One-Click"}) as answer:
                assert answer.status == status, token
                assert "<script" not in await answer.text()
        async with http.get(f"{web_server.base}/unsubscribe/%3Cscript%3E") as answer:
            assert answer.status == 400 and "<script>" not in await answer.text()
    assert await _preferences(web_services) == []


async def test_a_deleted_users_link_changes_nothing(
    web_services: Services, mailbox: CaptureServer, web_server: WebServer
) -> None:
    user = await _digest_user(web_services)
    assert (await digest(web_services, MONDAY)).sent == 1
    link = web_server.local(_link(mailbox.messages[0]))
    async with web_services.engine.begin() as conn:
        await conn.execute(
            delete(notification_settings).where(notification_settings.c.user_id == user)
        )
        await conn.execute(delete(users).where(users.c.id == user))
    await _up(web_server)
    async with (
        aiohttp.ClientSession() as http,
        http.post(link, data={"List-Unsubscribe": "One-Click"}) as answer,
    ):
        assert answer.status == 404
    assert await _preferences(web_services) == []


async def test_in_chromium_the_button_of_a_caught_emails_link_stops_the_next_digest(
    web_services: Services, mailbox: CaptureServer, web_server: WebServer, browser: WebDriver
) -> None:
    await _digest_user(web_services)
    assert (await digest(web_services, MONDAY)).sent == 1
    _, text, _ = parts(mailbox.messages[0])
    [link] = re.findall(r"Unsubscribe from these emails: (\S+)", text)
    await _up(web_server)
    browser.get(web_server.local(link))  # JavaScript plays no part: a plain form
    assert "daily digests" in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.TAG_NAME, "button").click()
    done = "You will no longer receive daily digests by email."
    # The click navigates: wait for the answer page (the old page's elements go stale).
    WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda driver: done in driver.find_element(By.TAG_NAME, "body").text
    )
    assert (await digest(web_services, MONDAY + timedelta(days=1))).sent == 0
    assert len(mailbox.messages) == 1
