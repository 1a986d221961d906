"""The dev inbox in a real headless browser: Debian's chromium driven by Selenium.

``scripts/install-browser`` installs chromium and chromium-driver; a missing browser is an
error, never a skip. The demo's messages are listed; one opens; its HTML body, in a sandboxed
iframe, shows the client's name with its markup escaped, and the ``<script>`` in another
client's name never runs. The In-app and Webhooks pages show the demo's rows and signed posts
(verified by dev mode's receiver) with every value escaped.
"""

from __future__ import annotations

import re
from pathlib import Path

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from notifier.dev.seed import BOLD_CLIENT, SCRIPT_CLIENT
from notifier.rules.kinds import IN_APP, WEBHOOK
from tests.support.dev import DevProcess, expected_mail, expected_on, poll


def _all_demo_mail_listed(dev_run: DevProcess) -> None:
    """Waits for every expected message first, so the list page is not reloaded mid-test."""
    expected = expected_mail()
    poll(lambda: dev_run.received() == expected, 150, f"the demo's mail {expected}")


def _row(driver: WebDriver, client: str) -> WebElement:
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.message")
    matches = [r for r in rows if client in r.find_element(By.CSS_SELECTOR, "td.subject").text]
    assert len(matches) == 1, [r.text for r in rows]
    return matches[0]


def _open(driver: WebDriver, client: str) -> None:
    _row(driver, client).find_element(By.CSS_SELECTOR, "td.subject a").click()
    poll(lambda: re.search(r"/messages/\d+$", driver.current_url) is not None, 10, "message page")


def _html_body_text(driver: WebDriver) -> tuple[str, list[str], list[str]]:
    """Text, and the texts of ``<b>`` and ``<strong>`` elements, of the sandboxed HTML body."""
    frame = driver.find_element(By.ID, "html-body")
    assert frame.get_dom_attribute("sandbox") == ""  # present, and allowing nothing
    driver.switch_to.frame(frame)
    try:
        poll(lambda: "Hello" in driver.find_element(By.TAG_NAME, "body").text, 10, "HTML body")
        text = driver.find_element(By.TAG_NAME, "body").text
        bold = [e.text for e in driver.find_elements(By.TAG_NAME, "b")]
        return text, bold, [e.text for e in driver.find_elements(By.TAG_NAME, "strong")]
    finally:
        driver.switch_to.default_content()


def _no_alert(driver: WebDriver) -> bool:
    try:
        driver.switch_to.alert.dismiss()
    except NoAlertPresentException:
        return True
    return False


def test_the_inbox_lists_opens_and_escapes(
    dev_run: DevProcess, browser: WebDriver, tmp_path: Path
) -> None:
    _all_demo_mail_listed(dev_run)
    browser.get(dev_run.url("/"))
    assert "DEV MODE" in browser.title
    assert "DEV MODE" in browser.find_element(By.ID, "dev-banner").text
    kinds = [
        r.get_dom_attribute("data-kind")
        for r in browser.find_elements(By.CSS_SELECTOR, "tr.message")
    ]
    assert sorted(kinds) == sorted(kind for kind, _ in expected_mail())

    _open(browser, BOLD_CLIENT)
    browser.save_screenshot(str(tmp_path / "message.png"))
    assert BOLD_CLIENT in browser.find_element(By.ID, "subject").text
    text, bold, strong = _html_body_text(browser)
    assert BOLD_CLIENT in text  # shown as typed: the markup is text, not markup
    assert bold == [] and BOLD_CLIENT in strong

    browser.find_element(By.ID, "view-text").click()
    poll(lambda: bool(browser.find_elements(By.ID, "text-body")), 10, "the text view")
    assert BOLD_CLIENT in browser.find_element(By.ID, "text-body").text

    browser.get(dev_run.url("/"))
    _open(browser, SCRIPT_CLIENT)
    text, _bold, _strong = _html_body_text(browser)
    assert SCRIPT_CLIENT in text and _no_alert(browser)


def _channels_delivered(dev_run: DevProcess) -> None:
    """Waits for every expected in-app row and webhook post, so the pages stay still."""
    rows, posts = expected_on(IN_APP), expected_on(WEBHOOK)
    poll(lambda: dev_run.in_app() == rows, 150, f"the demo's in-app rows {rows}")
    poll(lambda: len(dev_run.webhooks()) >= len(posts), 150, f"the demo's webhooks {posts}")


def _cells(driver: WebDriver, row: str, cell: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, f"{row} td.{cell}")]


def test_the_inbox_shows_in_app_feeds_and_verified_webhooks(
    dev_run: DevProcess, browser: WebDriver, tmp_path: Path
) -> None:
    _channels_delivered(dev_run)
    browser.get(dev_run.url("/"))
    browser.find_element(By.ID, "nav-in_app").click()
    poll(lambda: browser.current_url.endswith("/in-app"), 10, "the in-app page")
    browser.save_screenshot(str(tmp_path / "in-app.png"))
    kinds = [
        r.get_dom_attribute("data-kind")
        for r in browser.find_elements(By.CSS_SELECTOR, "tr.notification")
    ]
    assert sorted(kinds) == sorted(kind for kind, _ in expected_on(IN_APP))
    titles = _cells(browser, "tr.notification", "title")
    assert any(BOLD_CLIENT in title for title in titles), titles  # markup shown as text
    assert browser.find_elements(By.CSS_SELECTOR, "section.feed b") == []
    assert set(_cells(browser, "tr.notification", "read")) == {"unread"}
    assert all(link.startswith("http") for link in _cells(browser, "tr.notification", "link"))

    browser.find_element(By.ID, "nav-webhook").click()
    poll(lambda: browser.current_url.endswith("/webhooks"), 10, "the webhooks page")
    browser.save_screenshot(str(tmp_path / "webhooks.png"))
    posts = browser.find_elements(By.CSS_SELECTOR, "tr.hook")
    assert sorted(p.get_dom_attribute("data-kind") for p in posts) == sorted(
        kind for kind, _ in expected_on(WEBHOOK)
    )
    assert {p.get_dom_attribute("data-verified") for p in posts} == {"yes"}
    assert set(_cells(browser, "tr.hook", "signature")) == {"verified"}
    texts = _cells(browser, "tr.hook", "text")
    assert any(SCRIPT_CLIENT in text for text in texts), texts
    assert _no_alert(browser)
