"""The agent workspace in Debian's chromium against a real server (issue 16): a customer
who asks for a person while the team is closed gets the contact form in the widget, sends it
(twice: nothing is stored twice), and, with no helpdesk configured, the conversation lands in
the agents' inbox; an agent finds it in the history by a word of the question and by the
customer's email, sees the customer's email on the card, tags it from the side panel and
finds it by the tag; a search with odd characters finds what its letters find, or nothing.
An agent starts the sign-in online, goes away when idle and comes back on their return."""

from __future__ import annotations

import http.server
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import LiveServer
from tests.staffkit import add_user, close, new_page, sign_in

pytestmark = pytest.mark.browser

WORKSPACE = """
id: shop
name: Shop
default_locale: en
"""
# Never open: every handoff is "outside business hours", so the contact form is offered.
ESCALATION = """
rules:
  - name: person
    type: human_request
    action: transfer
business_hours:
  timezone: UTC
  weekly: {}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "shop").mkdir()
        (Path(root) / "shop" / "workspace.yaml").write_text(WORKSPACE, encoding="utf-8")
        (Path(root) / "shop" / "escalation.yaml").write_text(ESCALATION, encoding="utf-8")
        env = {
            "SMARTSUPPORT_WORKSPACES_DIR": root,
            "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
            "SMARTSUPPORT_AGENT_IDLE_MINUTES": "0.05",  # idle after 3 seconds
        }
        with LiveServer(env) as live:
            add_user(live, "ana@example.com", "agent", "Ana Agent", workspace="shop")
            yield live


@pytest.fixture(scope="module")
def shop_url(server: LiveServer) -> Iterator[str]:
    """The business's own page (another origin) with the one script tag of the README."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = (
                '<!doctype html><html lang="en"><title>Shop</title><h1>Shop</h1>'
                f'<script src="{server.url}/widget.js" data-workspace="shop" async></script>'
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
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def leave_details(page: Page, shop_url: str, question: str) -> None:
    page.goto(shop_url)
    w = page.locator("#smartsupport-widget")
    w.locator("button.launch").click()
    expect(w.locator("li.bot").first).to_be_visible()
    box = w.locator("#ss-input")
    box.fill("I want to talk to a person")
    box.press("Enter")
    form = w.locator(".contact")
    expect(form).to_be_visible()
    expect(w.locator("li.bot").last).to_contain_text("offline")
    form.get_by_label("Your email address").fill("mia@example.com")
    form.get_by_label("Your question").fill(question)
    send = form.get_by_role("button", name="Send")
    send.dblclick()  # an impatient double click
    expect(w.locator("li.bot").last).to_contain_text("mia@example.com")
    expect(form).to_have_count(0)  # the form goes once it was sent
    expect(w.locator("li.customer", has_text=question)).to_have_count(1)


def test_closed_team_contact_form_to_inbox_history_and_tags(
    browser: Browser, server: LiveServer, shop_url: str
) -> None:
    customer = new_page(browser, 1300, 850)
    leave_details(customer, shop_url, "Can I return the blue kettle?")
    close(customer)
    again = new_page(browser, 1300, 850)  # the same customer comes back another day
    leave_details(again, shop_url, "Does the toaster have a warranty?")
    close(again)

    agent = new_page(browser, 1300, 850)
    sign_in(agent, server, "ana@example.com")
    # Without a helpdesk the details landed in the agents' queue.
    expect(agent.locator("#queue li")).to_have_count(2)
    agent.get_by_role("link", name="History").click()
    agent.locator("#history-q").fill("kettle")
    agent.get_by_role("button", name="Search").click()
    cards = agent.locator("#history-results li.card")
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".customer-email")).to_have_text("mia@example.com")
    expect(cards.first).to_contain_text("Waiting for an agent")

    agent.locator("#history-q").fill("")
    agent.locator("#history-customer").fill("mia@example.com")
    agent.get_by_role("button", name="Search").click()
    expect(cards).to_have_count(2)

    agent.locator("#history-customer").fill("")
    agent.locator("#history-q").fill("\"kettle';-- *:(")
    agent.get_by_role("button", name="Search").click()
    expect(cards).to_have_count(1)  # the letters count, the rest is no syntax
    agent.locator("#history-q").fill("%%% ***")
    agent.get_by_role("button", name="Search").click()
    expect(agent.locator("#history-empty")).to_be_visible()

    agent.locator("#history-q").fill("kettle")
    agent.get_by_role("button", name="Search").click()
    cards.first.locator("a.card-link").click()
    expect(agent.locator("#tag-add")).to_be_visible()
    agent.locator("#tag-add").fill("Returns, kitchen")
    agent.get_by_role("button", name="Add tag").click()
    expect(agent.locator("#conversation-tags .tag")).to_have_text(["kitchen", "returns"])
    agent.get_by_role("link", name="History").click()
    agent.locator("#history-tag").fill("returns")
    agent.get_by_role("button", name="Search").click()
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("mia@example.com")
    expect(cards.first.locator(".tag")).to_have_text(["kitchen", "returns"])
    agent.get_by_role("link", name="Resolved").click()
    expect(agent.locator("#history-empty")).to_be_visible()
    close(agent)


def test_an_agent_starts_online_goes_away_when_idle_and_comes_back(
    browser: Browser, server: LiveServer
) -> None:
    agent = new_page(browser, 1300, 850)
    sign_in(agent, server, "ana@example.com")
    status = agent.locator("#agent-status")
    expect(status).to_have_value("online")  # the sign-in status, not "offline"
    expect(status).to_have_value("away", timeout=15_000)  # 3 s without keyboard or mouse
    agent.mouse.move(200, 300)
    agent.mouse.move(260, 320)
    expect(status).to_have_value("online")
    agent.reload()
    expect(status).to_have_value("online")  # stored on the server, not only in the page
    close(agent)
