"""Consent and "people only" in the real widget, in headless chromium (Debian's), against a
real server process: the widget embedded on a shop's own page (another origin) for a
workspace that asks for consent."""

from __future__ import annotations

import http.server
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import LiveServer
from tests.staffkit import close, new_page

pytestmark = pytest.mark.browser

WORKSPACE = """
id: acme
name: Acme
default_locale: en
faq:
  - keywords: [shipping, envío]
    answer: "Shipping takes three days."
messages:
  consent.text:
    en: "Acme keeps this chat for 30 days to answer you."
    es: "Acme guarda este chat 30 días para responderte."
privacy:
  consent:
    version: "2026-01"
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "acme").mkdir()
        (Path(root) / "acme" / "workspace.yaml").write_text(WORKSPACE, encoding="utf-8")
        env = {
            "SMARTSUPPORT_WORKSPACES_DIR": root,
            "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
        }
        with LiveServer(env) as live:
            yield live


@pytest.fixture(scope="module")
def shop_url(server: LiveServer) -> Iterator[str]:
    """The business's own pages (another origin, on loopback too: chromium keeps a public
    page from loading scripts from 127.0.0.1), with the one script tag of the README."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            locale = self.path.rsplit("/", 1)[-1] or "en"
            body = (
                f'<!doctype html><html lang="{locale}"><title>Shop</title><h1>Shop</h1>'
                f'<script src="{server.url}/widget.js" data-workspace="acme" async></script>'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/shop/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, 1280, 800)
    yield page
    close(page)


def shop(page: Page, shop_url: str, locale: str = "en") -> None:
    page.goto(shop_url + locale)
    page.locator("#smartsupport-widget button.launch").click()
    expect(page.get_by_role("dialog")).to_be_visible()


def widget(page: Page, selector: str):
    return page.locator(f"#smartsupport-widget {selector}")


def consents(server: LiveServer) -> list[tuple]:
    conn = sqlite3.connect(server.data_dir / "smartsupport.db")
    try:
        return conn.execute(
            "SELECT version, language, people_only, created_at FROM consents ORDER BY created_at"
        ).fetchall()
    finally:
        conn.close()


def test_people_only_customer_accepts_and_is_queued_for_a_person(page, server, shop_url):
    before = len(consents(server))
    shop(page, shop_url)
    notice = page.get_by_role("group", name="Acme keeps this chat for 30 days to answer you.")
    expect(notice).to_be_visible()
    expect(widget(page, "textarea")).to_be_disabled()  # nothing is written before consent
    notice.get_by_label("Answer me with people only (no automated answers)").check()
    notice.get_by_role("button", name="Accept and start").click()
    expect(notice).to_have_count(0)
    expect(widget(page, "textarea")).to_be_enabled()

    widget(page, "textarea").fill("How long does shipping take?")
    widget(page, "textarea").press("Enter")
    expect(widget(page, "li.bot").last).to_contain_text("connecting you with a member of our team")
    expect(widget(page, "#ss-status")).to_contain_text("An agent will be with you shortly")
    expect(widget(page, "ol.log")).not_to_contain_text("three days")
    rows = consents(server)[before:]
    assert [(r[0], r[1], r[2]) for r in rows] == [("2026-01", "en", 1)]
    assert rows[0][3].endswith("+00:00")  # stored with its time, in UTC

    page.reload()  # consent given once is not asked again
    page.locator("#smartsupport-widget button.launch").click()
    expect(widget(page, "ol.log")).to_contain_text("How long does shipping take?")
    expect(page.get_by_role("group", name="Acme keeps this chat")).to_have_count(0)


def test_the_notice_is_in_the_customers_language_and_answers_follow(page, server, shop_url):
    shop(page, shop_url, locale="es")
    notice = page.get_by_role("group", name="Acme guarda este chat 30 días para responderte.")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("solo personas")
    notice.get_by_role("button", name="Aceptar y empezar").click()
    expect(notice).to_have_count(0)
    widget(page, "textarea").fill("¿Cuánto tarda el envío?")
    widget(page, "textarea").press("Enter")
    expect(widget(page, "li.bot").last).to_contain_text("three days")
    assert consents(server)[-1][1:3] == ("es", 0)
