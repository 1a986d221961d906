"""The operator console in Chromium, as an operator uses it: sign in, find the failed
delivery, re-send it, see it ``sent`` and the email caught. Screenshots of the overview and
of the delivery are saved as test artifacts (``CONSOLE_SCREENSHOTS`` names a folder to keep
them in, e.g. ``docs/`` for the README's picture; else the test's tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from notifier.app import Services
from notifier.jobs.runs import run_recorded
from tests.integration.test_console_api import (  # noqa: F401  (fixtures)
    EMAIL,
    PASSWORD,
    SLOT,
    Web,
    console,
    console_services,
    console_settings,
    reminder_failed,
)
from tests.support.data import Data
from tests.support.local_time_data import LocalTimeData
from tests.support.smtp import CaptureServer
from tests.support.worker import wait_until

WAIT = 20


def _artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shot(browser: WebDriver, folder: Path, name: str) -> Path:
    path = folder / name
    assert browser.save_screenshot(str(path)), path
    return path


def _sign_in(browser: WebDriver, web: Web) -> None:
    browser.get(web.url("/admin/"))
    WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "password")))
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "sign-in").click()
    WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "health")))


def _open_the_failure(browser: WebDriver, web: Web) -> None:
    browser.get(web.url("/admin/deliveries"))
    select = browser.find_element(By.ID, "status")
    select.find_element(By.XPATH, "option[text()='failed']").click()
    browser.find_element(By.ID, "search").click()
    WebDriverWait(browser, WAIT).until(ec.url_contains("status=failed"))
    [link] = browser.find_elements(By.LINK_TEXT, "open")
    link.click()
    WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "row-status")))


async def _demo(services: Services) -> None:
    """A little history for the overview: a recorded digest tick (``job_runs``) for a few
    users."""
    people = LocalTimeData(services.engine)
    for _ in range(3):
        await people.digest_user("UTC")
    await run_recorded(services, "daily_digest", SLOT.replace(hour=7, minute=0))


async def test_an_operator_finds_a_failed_delivery_and_resends_it(
    console_services: Services,  # noqa: F811  (the fixture imported above)
    data: Data,
    mailbox: CaptureServer,
    console: Web,  # noqa: F811
    browser: WebDriver,
    tmp_path: Path,
) -> None:
    await _demo(console_services)
    key = await reminder_failed(console_services, data, mailbox)
    caught_before = len(mailbox.messages)
    folder = _artifacts(tmp_path)
    _sign_in(browser, console)
    assert "<script" not in browser.page_source and "Casey" not in browser.page_source
    _shot(browser, folder, "console-overview.png")
    _open_the_failure(browser, console)
    assert browser.find_element(By.ID, "row-status").text == "failed"
    assert str(key.entity_id) in browser.page_source
    browser.find_element(By.ID, "resend").click()
    WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "outcome")))
    assert browser.find_element(By.ID, "outcome").text == "Sent again."
    assert browser.find_element(By.ID, "row-status").text == "sent"
    _shot(browser, folder, "console-delivery.png")

    async def caught() -> bool:
        return len(mailbox.messages) == caught_before + 1

    await wait_until(caught, WAIT, "the re-sent email to be caught")
    message = mailbox.messages[-1]
    assert message.rcpt_tos == [EMAIL] and message.kind == "appointment_reminder"
    assert message.parsed()["Message-ID"] == console_services.channels["email"].ident(key)
    assert (folder / "console-overview.png").stat().st_size > 10_000
    # The user's page: settings as the worker reads them, the address, never a name.
    browser.find_element(By.LINK_TEXT, str(key.user_id)).click()
    WebDriverWait(browser, WAIT).until(ec.url_contains(f"/admin/users/{key.user_id}"))
    page = browser.page_source
    assert EMAIL in page and "Upcoming (next 48 hours)" in page
    assert "Pat Practitioner" not in page and "Casey" not in page
