"""The copilot and the agent's tools in Debian's chromium against a real server (issue 16).

An agent claims a handed-over conversation with a keyboard shortcut, reads the copilot's
summary (the customer's question, not their request for a person), inserts the drafted
reply with Alt+1, edits it and sends it: the customer receives the edited text. The side
panel suggests the article that answers. The shortcuts overlay opens with "?" and closes with
Esc; "j" moves to the next conversation. A customer message in a held conversation that is not
on screen shows as unread on its card and in the page title until it is opened; the server
keeps the counts, so the agent's other device shows the same; the queue's cards show each
agent's own counts too (not in the title). With alerts
turned on (permission asked on the click), a conversation offered to the agent shows a
desktop notification. Two agents in one conversation see each other typing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests import staffkit
from tests import test_inbox_browser as inbox
from tests.servers import LiveServer
from tests.staffkit import close

pytestmark = pytest.mark.browser

QUESTION = "What does express shipping cost, and how quick is it?"
SHIPPING = "Shipping options, costs and delivery times"
# Records the desktop notifications the page shows (the real API underneath).
RECORD_NOTIFICATIONS = """
window.__notifications = [];
if ("Notification" in window) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.__notifications.push(title); }
  };
}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    env = {
        "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
        # Nobody is offered anything unless a test says so: assignments are the tests' own.
        "SMARTSUPPORT_AGENT_STATUS_AT_SIGN_IN": "away",
    }
    with LiveServer(env) as live:
        staffkit.add_user(live, "ana@example.com", "agent", "Ana Agent")
        staffkit.add_user(live, "bo@example.com", "agent", "Bo Agent")
        staffkit.add_user(live, "cy@example.com", "agent", "Cy Agent")
        try:
            yield live
        finally:
            # Their sockets would otherwise be collected during a later test, as an error.
            while CLIENTS:
                CLIENTS.pop().close()


CLIENTS: list[httpx.Client] = []  # closed with the module's server


class StaffSession:
    """A staff member's API session over plain HTTP (its Secure cookies sent by hand:
    ``staffkit.live_headers``)."""

    def __init__(self, server: LiveServer, email: str) -> None:
        self.server, self.http = server, httpx.Client(timeout=30)
        CLIENTS.append(self.http)
        staffkit.live_login(self.http, server, email)
        self.id = self.http.get(f"{server.url}/api/v1/auth/me", headers=self.headers()).json()["id"]

    def headers(self) -> dict[str, str]:
        return staffkit.live_headers(self.http)

    def post(self, path: str, body: dict | None = None) -> httpx.Response:
        return self.http.post(self.server.url + path, json=body, headers=self.headers())


class Customer:
    """A customer writing through the REST API (the widget has its own browser tests)."""

    def __init__(self, server: LiveServer, name: str) -> None:
        body = {"workspace": "demo", "customer": {"name": name}}
        started = httpx.post(f"{server.url}/api/v1/conversations", json=body).json()
        self.server, self.id = server, started["id"]
        self.auth = {"Authorization": f"Bearer {started['token']}"}

    def say(self, text: str) -> dict:
        r = httpx.post(
            f"{self.server.url}/api/v1/conversations/{self.id}/messages",
            json={"text": text},
            headers=self.auth,
            timeout=30,
        )
        assert r.status_code == 201, r.text
        return r.json()

    def messages(self) -> list[dict]:
        url = f"{self.server.url}/api/v1/conversations/{self.id}/messages"
        return httpx.get(url, headers=self.auth).json()["messages"]


def unread_of(agent: StaffSession, counts: dict[str, int], lists: str = "mine") -> None:
    """Waits until the server's unread counts of the agent's conversations (``lists``:
    "mine" or "queue") are ``counts`` (read marks are sent by the page as it shows
    messages)."""
    for _ in range(100):
        r = agent.http.get(f"{agent.server.url}/api/v1/inbox/queue", headers=agent.headers())
        now = {m["conversation_id"]: m["unread"] for m in r.json()[lists]}
        if all(now.get(k) == v for k, v in counts.items()):
            return
        time.sleep(0.1)
    raise AssertionError(f"unread counts {now}, expected {counts}")


def sign_in(page: Page, server: LiveServer, email: str, path: str = "/inbox") -> None:
    """Signed in, on ``path``, with the inbox's socket connected."""
    staffkit.sign_in(page, server, email, path)
    inbox.live(page)


def test_claim_by_shortcut_then_insert_edit_and_send_a_copilot_draft(
    browser: Browser, server: LiveServer
) -> None:
    customer = Customer(server, "Grace Hopper")
    customer.say(QUESTION)
    customer.say("can I talk to a person please")
    agent = staffkit.new_page(browser, 1400, 900)
    sign_in(agent, server, "ana@example.com", f"/inbox/conversations/{customer.id}")
    copilot = agent.locator("#copilot")
    expect(copilot).to_contain_text(QUESTION)  # what they want, not "a person"
    expect(copilot).to_contain_text("Handed over: customer asked for a")
    expect(agent.locator("#suggested-articles li").first).to_contain_text(SHIPPING)
    expect(copilot).to_contain_text("Claim the conversation to insert a draft.")
    agent.locator("#transcript").click()  # the page, not a text field, has the focus
    agent.keyboard.press("c")  # claim
    expect(agent.locator(".conv-head .badge").first).to_have_text("With an agent")
    expect(copilot.get_by_role("button", name="Insert")).to_be_visible()
    agent.keyboard.press("Alt+1")
    reply = agent.get_by_label("Reply to the customer")
    expect(reply).to_have_value(
        "Express shipping delivers in 1-2 business days and costs $12, whatever the order "
        "value. Choose it at checkout. Express orders placed after 2 pm Eastern leave the next "
        "business day."
    )
    assert customer.messages()[-1]["author"] != "agent"  # inserting sends nothing
    reply.press("End")
    reply.press_sequentially(" Anything else I can help with?")
    reply.press("Enter")
    expect(agent.locator("#transcript li.agent")).to_have_count(1)
    sent = [m for m in customer.messages() if m["author"] == "agent"]
    assert len(sent) == 1 and sent[0]["text"].startswith("Express shipping delivers in 1-2")
    assert sent[0]["text"].endswith("costs $12, whatever the order value. Choose it at checkout."
                                     " Express orders placed after 2 pm Eastern leave the next "
                                     "business day. Anything else I can help with?")  # fmt: skip
    close(agent)


def test_shortcuts_overlay_and_next_conversation(browser: Browser, server: LiveServer) -> None:
    first, second = Customer(server, "Alan"), Customer(server, "Barbara")
    for c in (first, second):
        c.say("I want to talk to a person please")
    agent = staffkit.new_page(browser, 1400, 900)
    sign_in(agent, server, "bo@example.com")
    agent.keyboard.press("?")
    overlay = agent.locator("#shortcuts")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("Next conversation")
    expect(overlay).to_contain_text("Insert the copilot's draft")
    agent.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    agent.get_by_role("button", name="Keyboard shortcuts").click()
    expect(overlay).to_be_visible()
    agent.get_by_role("button", name="Close").click()
    expect(overlay).to_be_hidden()
    cards = agent.locator("#lists .card[data-id]")
    first_id = cards.nth(0).get_attribute("data-id")
    second_id = cards.nth(1).get_attribute("data-id")
    agent.keyboard.press("j")
    expect(agent).to_have_url(f"{server.url}/inbox/conversations/{first_id}")
    expect(agent.locator("body[data-live='1']")).to_have_count(1)
    agent.keyboard.press("j")
    expect(agent).to_have_url(f"{server.url}/inbox/conversations/{second_id}")
    # Typing in a text field is typing, not a shortcut.
    agent.locator("#note-text").press_sequentially("jk")
    expect(agent).to_have_url(f"{server.url}/inbox/conversations/{second_id}")
    close(agent)


def test_unread_counts_and_alerts_on_a_new_assignment(browser: Browser, server: LiveServer) -> None:
    cy = StaffSession(server, "cy@example.com")
    held, other = Customer(server, "Ada"), Customer(server, "Charles")
    for c in (held, other):
        c.say("I want to talk to a person please")
        r = cy.post(f"/api/v1/inbox/conversations/{c.id}/claim")
        assert r.status_code == 200, r.text
        r = cy.post(f"/api/v1/inbox/conversations/{c.id}/read", {"seq": 1000})
        assert r.status_code == 200 and r.json()["seq"] < 1000, r.text  # not past what was said
    agent = staffkit.new_page(browser, 1400, 900, permissions=["notifications"])
    agent.add_init_script(RECORD_NOTIFICATIONS)
    sign_in(agent, server, "cy@example.com", f"/inbox/conversations/{other.id}")
    expect(agent).to_have_title("Inbox · smartsupport")
    held.say("Hello? Are you still there?")
    held.say("It's about ORD-10234")
    badge = agent.locator(f"#mine .card[data-id='{held.id}'] .unread-count")
    expect(badge).to_have_text("2")
    expect(agent).to_have_title("(2) Inbox · smartsupport")
    other.say("thanks")  # on screen: read as it arrives
    expect(agent.locator("#transcript li.customer").last).to_contain_text("thanks")
    expect(agent).to_have_title("(2) Inbox · smartsupport")
    # The agent's other device: the same counts, from the server.
    unread_of(cy, {held.id: 2, other.id: 0})
    laptop = staffkit.new_page(browser, 1400, 900)
    sign_in(laptop, server, "cy@example.com")
    expect(laptop.locator(f"#mine .card[data-id='{held.id}'] .unread-count")).to_have_text("2")
    expect(laptop).to_have_title("(2) Inbox · smartsupport")
    agent.locator(f"#mine .card[data-id='{held.id}'] a.card-link").click()
    expect(agent.locator("body[data-live='1']")).to_have_count(1)
    expect(agent).to_have_title("Inbox · smartsupport")
    expect(agent.locator("#mine .unread-count:visible")).to_have_count(0)
    unread_of(cy, {held.id: 0, other.id: 0})  # read on one device: read on both
    laptop.reload()
    expect(laptop.locator("body[data-live='1']")).to_have_count(1)
    expect(laptop).to_have_title("Inbox · smartsupport")
    expect(laptop.locator("#mine .unread-count:visible")).to_have_count(0)
    close(laptop)

    toggle = agent.locator("#alerts-toggle")
    expect(toggle).to_have_text("Alerts off")
    toggle.click()
    expect(toggle).to_have_text("Alerts on")
    assert agent.evaluate("Notification.permission") == "granted"
    # Bo takes a new conversation and transfers it to Cy: a new assignment.
    bo = StaffSession(server, "bo@example.com")
    newcomer = Customer(server, "Dorothy")
    newcomer.say("I want to talk to a person please")
    assert bo.post(f"/api/v1/inbox/conversations/{newcomer.id}/claim").status_code == 200
    r = bo.post(f"/api/v1/inbox/conversations/{newcomer.id}/transfer", {"agent_id": cy.id})
    assert r.status_code == 200, r.text
    expect(agent.locator(f"#mine .card[data-id='{newcomer.id}']")).to_be_visible()
    expect(agent.locator("body[data-alerts='1']")).to_have_count(1)
    assert agent.evaluate("window.__notifications") == ["New conversation assigned to you"]
    agent.reload()  # the choice is kept
    expect(agent.locator("#alerts-toggle")).to_have_text("Alerts on")
    close(agent)


def test_queue_cards_show_what_each_agent_has_not_read(
    browser: Browser, server: LiveServer
) -> None:
    waiting = Customer(server, "Frances")
    waiting.say("I want to talk to a person please")
    waiting.say("It's about ORD-10234")
    agent = staffkit.new_page(browser, 1400, 900)
    sign_in(agent, server, "ana@example.com")
    card = agent.locator(f"#queue .card[data-id='{waiting.id}']")
    expect(card.locator(".unread-count")).to_have_text("2")
    expect(card.locator(".unread-count")).to_have_attribute(
        "title", "2 new messages from the customer"
    )
    # The queue is everyone's to take: its counts stay out of the agent's page title.
    expect(agent).to_have_title("Inbox · smartsupport")
    card.locator("a.card-link").click()  # opened, not claimed: read all the same
    expect(agent.locator("body[data-live='1']")).to_have_count(1)
    expect(card.locator(".unread-count:visible")).to_have_count(0)
    ana, bo = StaffSession(server, "ana@example.com"), StaffSession(server, "bo@example.com")
    unread_of(ana, {waiting.id: 0}, "queue")
    waiting.say("Hello?")  # on Ana's screen: read as it arrives
    expect(agent.locator("#transcript li.customer").last).to_contain_text("Hello?")
    unread_of(ana, {waiting.id: 0}, "queue")
    unread_of(bo, {waiting.id: 3}, "queue")  # Bo has read none of it
    agent.goto(f"{server.url}/inbox")
    inbox.live(agent)
    expect(agent.locator(f"#queue .card[data-id='{waiting.id}']")).to_be_visible()
    expect(
        agent.locator(f"#queue .card[data-id='{waiting.id}'] .unread-count:visible")
    ).to_have_count(0)
    close(agent)


def test_two_agents_typing_in_one_conversation_see_a_collision_warning(
    browser: Browser, server: LiveServer
) -> None:
    customer = Customer(server, "Edsger")
    customer.say("I want to talk to a person please")
    path = f"/inbox/conversations/{customer.id}"
    ana, bo = staffkit.new_page(browser, 1400, 900), staffkit.new_page(browser, 1400, 900)
    sign_in(ana, server, "ana@example.com", path)
    ana.locator(".conv-actions").get_by_role("button", name="Claim").click()
    expect(ana.locator(".conv-head .badge").first).to_have_text("With an agent")
    sign_in(bo, server, "bo@example.com", path)
    bo.locator("#note-text").press_sequentially("Customer called yesterday too")
    warning = ana.locator("#collision")
    expect(warning).to_have_text("⚠ Bo Agent is typing a private note in this conversation.")
    ana.get_by_label("Reply to the customer").press_sequentially("Hello Edsger")
    expect(bo.locator("#collision")).to_contain_text("Ana Agent is typing a reply")
    expect(warning).to_be_hidden(timeout=15_000)  # Bo stopped typing
    expect(ana.locator("#collision")).not_to_contain_text("Ana Agent")  # never oneself
    close(ana, bo)
