"""The agent inbox and the widget together, in Debian's chromium against a real server.

A customer asks for a person in the widget, the conversation shows up live in the agent's
queue with its reason, the agent claims it and replies, the customer sees the reply while
the bot stays silent, typing shows both ways, the agent resolves and the customer rates.
Also: roles keep agents out of the supervisor and admin pages, and two agents clicking
Claim at the same moment end with exactly one holder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import LiveServer
from tests.staffkit import add_user, close, new_page, sign_in

pytestmark = pytest.mark.browser

SERVER_ENV = {"SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000"}
SHOTS = os.environ.get("INBOX_SCREENSHOTS", "/tmp")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(SERVER_ENV) as live:
        add_user(live, "ana@example.com", "agent", "Ana Agent")
        add_user(live, "bo@example.com", "agent", "Bo Agent")
        add_user(live, "ada@example.com", "admin", "Ada Admin")
        yield live


def live(page: Page) -> None:
    """Wait until the inbox socket is connected (live updates flow from here on)."""
    expect(page.locator("body[data-live='1']")).to_have_count(1)


def widget(page: Page):
    return page.locator("#smartsupport-widget")


def customer_asks_for_a_person(page: Page, server: LiveServer) -> str:
    page.goto(server.url + "/")
    widget(page).locator("button.launch").click()
    expect(widget(page).locator("li.bot").first).to_contain_text("Northwind")
    box = widget(page).locator("textarea")
    box.fill("I need to talk to a person about my order")
    box.press("Enter")
    expect(widget(page).locator(".status")).to_contain_text("An agent will be with you shortly")
    state = page.evaluate("JSON.parse(localStorage.getItem('smartsupport:demo'))")
    return str(state["id"])


def test_customer_to_agent_and_back_claim_reply_resolve_rate(
    browser: Browser, server: LiveServer
) -> None:
    agent = new_page(browser)
    customer = new_page(browser, 1100, 800)
    sign_in(agent, server, "ana@example.com")
    agent.locator("#agent-status").select_option("online")
    live(agent)

    conversation_id = customer_asks_for_a_person(customer, server)
    # The queue updates live, with the reason the bot handed over.
    card = agent.locator(f"#queue li[data-id='{conversation_id}']")
    expect(card).to_be_visible()
    expect(card.locator(".reason")).to_contain_text("customer asked for a")
    expect(card).to_contain_text("talk to a person about my order")
    # The customer learns their place in the queue.
    expect(widget(customer).locator(".status")).to_contain_text("number 1 in the queue")
    agent.screenshot(path=f"{SHOTS}/inbox-queue.png")

    card.get_by_role("button", name="Claim").click()
    expect(agent).to_have_url(f"{server.url}/inbox/conversations/{conversation_id}")
    live(agent)
    expect(agent.locator("#escalation-reason")).to_contain_text("customer asked for a")
    expect(agent.locator(".conv-head .badge").first).to_have_text("With an agent")
    expect(widget(customer).locator(".status")).to_have_text("You are chatting with an agent")
    expect(widget(customer).locator("li.system")).to_contain_text(
        "Ana Agent joined the conversation."
    )

    # Typing shows both ways (the widget reports typing at most every 3 s).
    customer.wait_for_timeout(3100)
    widget(customer).locator("textarea").press_sequentially("hel")
    expect(agent.locator("#typing")).to_be_visible()
    reply = agent.get_by_label("Reply to the customer")
    reply.press_sequentially("Hi! I'm Ana")
    expect(widget(customer).locator(".typing")).to_contain_text("Agent is typing")
    reply.press_sequentially(" from Northwind. I'll check your order now.")
    reply.press("Enter")
    expect(widget(customer).locator("li.agent")).to_contain_text("I'm Ana from Northwind")
    expect(agent.locator("#transcript li.agent")).to_have_count(1)

    bot_before = widget(customer).locator("li.bot").count()
    box = widget(customer).locator("textarea")
    box.fill("Thanks! It's order ORD-10234")
    box.press("Enter")
    expect(agent.locator("#transcript li.customer").last).to_contain_text("ORD-10234")
    # The bot would answer an order question at once; held by an agent it stays silent.
    time.sleep(1.5)
    assert widget(customer).locator("li.bot").count() == bot_before
    messages = httpx.get(
        f"{server.url}/api/v1/conversations/{conversation_id}/messages",
        headers={
            "Authorization": "Bearer "
            + customer.evaluate("JSON.parse(localStorage.getItem('smartsupport:demo')).token")
        },
    ).json()["messages"]
    assert messages[-1]["author"] == "customer" and "ORD-10234" in messages[-1]["text"]
    agent.screenshot(path=f"{SHOTS}/inbox-conversation.png")

    agent.get_by_role("button", name="Resolve").click()
    expect(agent.locator(".conv-head .badge").first).to_have_text("Resolved")
    rating = widget(customer).locator(".csat")
    expect(rating).to_contain_text("How would you rate this conversation?")
    rating.get_by_role("button", name="4/5").click()
    rating.get_by_label("Comment (optional)").fill("Quick and friendly")
    customer.screenshot(path=f"{SHOTS}/widget-csat.png")
    rating.get_by_role("button", name="Send rating").click()
    expect(rating).to_have_text("Thank you for your feedback!")

    agent.reload()
    expect(agent.locator(".stars")).to_contain_text("4/5")
    expect(agent.locator("blockquote")).to_have_text("Quick and friendly")
    close(agent, customer)


def test_agent_cannot_reach_supervisor_or_admin_pages(browser: Browser, server: LiveServer) -> None:
    agent = new_page(browser)
    sign_in(agent, server, "bo@example.com")
    expect(agent.get_by_role("navigation", name="Sections").get_by_role("link")).to_have_text(
        ["Inbox", "History"]  # every agent searches the history (issue 16)
    )
    for path in ("/inbox/admin", "/inbox/team"):
        response = agent.goto(server.url + path)
        assert response is not None and response.status == 403
        expect(agent.get_by_role("alert")).to_contain_text("needs the")
    admin = new_page(browser)
    sign_in(admin, server, "ada@example.com", "/inbox/admin")
    expect(admin.get_by_role("heading", name="Inbox administration")).to_be_visible()
    admin.screenshot(path=f"{SHOTS}/inbox-admin.png")
    response = admin.goto(server.url + "/inbox/team")
    assert response is not None and response.status == 200
    admin.screenshot(path=f"{SHOTS}/inbox-team.png")
    close(agent, admin)


def test_two_agents_claim_the_same_conversation_at_once_one_wins(
    browser: Browser, server: LiveServer
) -> None:
    customer = new_page(browser)
    conversation_id = customer_asks_for_a_person(customer, server)
    pages = [new_page(browser), new_page(browser)]
    for page, email in zip(pages, ("ana@example.com", "bo@example.com"), strict=True):
        sign_in(page, server, email)
        expect(page.locator(f"#queue li[data-id='{conversation_id}']")).to_be_visible()
    # Both clicks are scheduled for the same instant (one browser process, one clock).
    at = pages[0].evaluate("Date.now() + 400")
    for page in pages:
        page.evaluate(
            """([id, at]) => setTimeout(() => document
                 .querySelector(`#queue button[data-action='claim'][data-id='${id}']`)
                 .click(), at - Date.now())""",
            [conversation_id, at],
        )
    winner_url = f"{server.url}/inbox/conversations/{conversation_id}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        won = [p.url == winner_url for p in pages]
        lost = [p.locator("#toast").is_visible() for p in pages]
        if any(won) and any(lost):
            break
        time.sleep(0.1)
    assert sorted(won) == [False, True], won
    loser = pages[won.index(False)]
    expect(loser.locator("#toast")).to_contain_text("already holds this conversation")
    expect(widget(customer).locator("li.system", has_text="joined the conversation")).to_have_count(
        1
    )
    close(customer, *pages)
