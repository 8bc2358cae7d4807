"""The widget and the inbox re-sync when live events are lost (real chromium, real server).

A backplane restart can lose what was published while it was down. The widget then has a
message on "Sending…" whose echo never comes: after its acknowledgement timeout it re-reads
the conversation over REST and re-sends with the same client_id, so nothing is stored twice.
The socket is proxied by the browser (``page.route_web_socket``) so the test can drop the
server's frames, which is what a lost publish looks like to the widget.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.servers import LiveServer
from tests.staffkit import add_user, close, new_page, sign_in
from tests.test_widget_browser import (
    SERVER_ENV,
    open_chat,
    send,
    server_messages,
    shown_seqs,
    stored,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(SERVER_ENV) as live:
        yield live


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, 1280, 800)
    yield page
    close(page)


def test_a_lost_echo_is_recovered_after_the_ack_timeout_and_stored_once(
    page: Page, server: LiveServer
) -> None:
    lost: list[dict] = []
    delivered: list[str] = []

    def proxy(ws: WebSocketRoute) -> None:
        to_server = ws.connect_to_server()

        def from_server(raw: str | bytes) -> None:
            frame = json.loads(raw)
            if frame.get("type") == "message" and frame["message"]["seq"] > 1:
                lost.append(frame)  # published, never delivered
                return
            ws.send(raw)
            delivered.append(frame.get("type", ""))

        to_server.on_message(from_server)

    page.route_web_socket("**/ws", proxy)
    open_chat(page, server.url)
    # Until the socket is ready the widget posts over REST, whose reply carries the echo: on
    # a loaded machine the message would then never go through the lossy socket.
    for _ in range(200):
        if "ready" in delivered:
            break
        page.wait_for_timeout(50)
    assert "ready" in delivered, "the widget's socket never became ready"
    send(page, "How much does shipping cost?")
    pending = page.locator("#smartsupport-widget li.pending")
    expect(pending).to_contain_text("Sending…")
    # The echo is published once the message is stored; on a loaded machine that can take a
    # few seconds, still well inside the widget's 8 s acknowledgement timeout.
    for _ in range(120):
        if lost:
            break
        page.wait_for_timeout(50)
    expect(pending).to_have_count(1)  # still waiting: the echo was lost
    assert [f["message"]["author"] for f in lost][:1] == ["customer"]

    # After the acknowledgement timeout (8 s) the widget re-syncs over REST.
    expect(pending).to_have_count(0, timeout=15_000)
    bot = page.locator("#smartsupport-widget li.bot")
    expect(bot.nth(1)).to_contain_text("shipping", ignore_case=True)
    state = stored(page)
    expected = server_messages(server.url, state)
    assert shown_seqs(page) == [m["seq"] for m in expected]
    customer = [m for m in expected if m["author"] == "customer"]
    assert len(customer) == 1 and customer[0]["text"] == "How much does shipping cost?"
    assert state["pending"] == []


# -- the agent inbox ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inbox_server() -> Iterator[LiveServer]:
    from tests.test_inbox_browser import SERVER_ENV as INBOX_ENV

    with LiveServer(INBOX_ENV) as live:
        add_user(live, "ana@example.com", "agent", "Ana Agent")
        yield live


def test_the_inbox_re_syncs_its_transcript_and_retries_a_reply_once(
    browser: Browser, inbox_server: LiveServer
) -> None:
    from tests.test_inbox_browser import customer_asks_for_a_person, live

    server = inbox_server
    agent, customer = new_page(browser), new_page(browser, 1100, 800)
    sockets: list[WebSocketRoute] = []
    deaf = {"on": False}  # while on, the server's frames to the inbox are lost

    def proxy(ws: WebSocketRoute) -> None:
        to_server = ws.connect_to_server()
        to_server.on_message(lambda raw: None if deaf["on"] else ws.send(raw))
        sockets.append(ws)

    agent.route_web_socket("**/api/v1/inbox/ws", proxy)
    sign_in(agent, server, "ana@example.com")
    agent.locator("#agent-status").select_option("online")
    live(agent)
    conversation_id = customer_asks_for_a_person(customer, server)
    agent.locator(f"#queue li[data-id='{conversation_id}']").get_by_role(
        "button", name="Claim"
    ).click()
    expect(agent).to_have_url(f"{server.url}/inbox/conversations/{conversation_id}")
    live(agent)

    # A customer message whose live event is lost (as in a Redis restart)...
    deaf["on"] = True
    box = customer.locator("#smartsupport-widget textarea")
    box.fill("Is anyone there? Order ORD-10234")
    box.press("Enter")
    expect(customer.locator("#smartsupport-widget li.pending")).to_have_count(0)
    transcript = agent.locator("#transcript li.customer")
    agent.wait_for_timeout(1000)
    expect(transcript.filter(has_text="ORD-10234")).to_have_count(0)
    # ...is shown once the inbox reconnects (the server closes sockets with 1012 on restart).
    deaf["on"] = False
    sockets[-1].close(code=1012, reason="restart")
    expect(transcript.filter(has_text="ORD-10234")).to_have_count(1, timeout=15_000)

    # A reply whose first POST gets no answer is retried with the same client_id.
    posts: list[dict] = []

    def flaky(route) -> None:  # type: ignore[no-untyped-def]
        posts.append(route.request.post_data_json)
        if len(posts) == 1:
            route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "x"}})
        else:
            route.continue_()

    agent.route(f"**/api/v1/inbox/conversations/{conversation_id}/messages", flaky)
    reply = agent.get_by_label("Reply to the customer")
    reply.fill("Yes, Ana here. Checking ORD-10234 now.")
    reply.press("Enter")
    expect(agent.locator("#transcript li.agent").filter(has_text="Checking")).to_have_count(1)
    expect(customer.locator("#smartsupport-widget li.agent")).to_contain_text("Checking")
    assert len(posts) == 2 and posts[0]["client_id"] == posts[1]["client_id"]
    token = customer.evaluate("JSON.parse(localStorage.getItem('smartsupport:demo')).token")
    messages = httpx.get(
        f"{server.url}/api/v1/conversations/{conversation_id}/messages",
        headers={"Authorization": f"Bearer {token}"},
    ).json()["messages"]
    assert [m["text"] for m in messages].count("Yes, Ana here. Checking ORD-10234 now.") == 1
    close(agent, customer)
