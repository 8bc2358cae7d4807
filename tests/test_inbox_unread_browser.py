"""Live unread counts in Debian's chromium against a real server (issue 16, docs/inbox.md
"Unread counts"): two agents have the inbox open (one of them in two tabs) with the lists'
refreshes held back, so only the socket can change what they show. A customer waiting in the
queue writes: every inbox shows the card's count and the queue header's total go up. One
agent opens the conversation in one tab: the count drops in both her tabs, not in the other
agent's; what the customer writes next is read in her tabs and unread in his.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests import staffkit
from tests import test_inbox_browser as inbox
from tests.servers import LiveServer
from tests.test_inbox_ergonomics_browser import Customer

pytestmark = pytest.mark.browser

# Every frame of the inbox socket, as inbox.js hands it to the other scripts.
RECORD_FRAMES = """
window.__frames = [];
document.addEventListener("inbox:frame", (e) => window.__frames.push(e.detail));
"""
TITLE = "Inbox · smartsupport"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    env = {
        "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
        # Nobody is offered anything: an offer would refresh the lists.
        "SMARTSUPPORT_AGENT_STATUS_AT_SIGN_IN": "away",
    }
    with LiveServer(env) as live:
        staffkit.add_user(live, "ana@example.com", "agent", "Ana Agent")
        staffkit.add_user(live, "bo@example.com", "agent", "Bo Agent")
        yield live


def inbox_of(browser: Browser, server: LiveServer, email: str) -> Page:
    """The inbox page, live, whose later list refreshes fail (503: the page keeps its cards),
    so whatever changes on it came over the socket."""
    page = staffkit.new_page(browser, 1400, 900)
    page.add_init_script(RECORD_FRAMES)
    staffkit.sign_in(page, server, email)
    inbox.live(page)
    page.route("**/inbox/fragments/lists*", hold_back)
    return page


def hold_back(route: Route) -> None:
    route.fulfill(status=503, body="held back by the test")


def read_frame(page: Page, conversation_id: str, seq: int) -> None:
    """Wait until the page received the agent's read mark of ``seq`` (or later)."""
    page.wait_for_function(
        "([id, seq]) => window.__frames.some((f) => f.type === 'read' "
        "&& f.conversation_id === id && f.seq >= seq)",
        arg=[conversation_id, seq],
    )


def test_two_agents_see_the_queue_count_rise_and_only_the_reader_sees_it_drop(
    browser: Browser, server: LiveServer
) -> None:
    customer = Customer(server, "Frances")
    customer.say("I want to talk to a person please")
    ana = inbox_of(browser, server, "ana@example.com")
    ana_tab = inbox_of(browser, server, "ana@example.com")
    bo = inbox_of(browser, server, "bo@example.com")
    card = f"#queue .card[data-id='{customer.id}']"
    for page in (ana, ana_tab, bo):
        expect(page.locator(f"{card} .unread-count")).to_have_text("1")
        expect(page.locator("#queue-unread")).to_have_text("1 unread")

    customer.say("Hello? Is anyone there?")
    customer.say("It's about ORD-10234")
    for page in (ana, ana_tab, bo):
        expect(page.locator(f"{card} .unread-count")).to_have_text("3")
        expect(page.locator(f"{card} .unread-count")).to_have_attribute(
            "title", "3 new messages from the customer"
        )
        expect(page.locator("#queue-unread")).to_have_text("3 unread")
        expect(page).to_have_title(TITLE)  # the queue is anyone's: not in the title

    # Ana opens the conversation in her second tab: read there, and in her first tab live.
    ana_tab.locator(f"{card} a.card-link").click()
    inbox.live(ana_tab)
    expect(ana_tab.locator("#transcript li.customer").last).to_contain_text("ORD-10234")
    last_seq = int(ana_tab.locator("#transcript li.customer").last.get_attribute("data-seq") or 0)
    read_frame(ana, customer.id, last_seq)
    expect(ana.locator(f"{card} .unread-count:visible")).to_have_count(0)
    expect(ana.locator("#queue-unread")).to_be_hidden()
    # Bo has read none of it.
    expect(bo.locator(f"{card} .unread-count")).to_have_text("3")
    expect(bo.locator("#queue-unread")).to_have_text("3 unread")

    # The customer writes again: on Ana's screen, so read in both her tabs; unread for Bo.
    said = customer.say("Hello??")["message"]["seq"]
    expect(ana_tab.locator("#transcript li.customer").last).to_contain_text("Hello??")
    expect(bo.locator(f"{card} .unread-count")).to_have_text("4")
    expect(bo.locator("#queue-unread")).to_have_text("4 unread")
    read_frame(ana, customer.id, said)
    expect(ana.locator(f"{card} .unread-count:visible")).to_have_count(0)
    expect(ana.locator("#queue-unread")).to_be_hidden()
    assert ana.evaluate(
        "(id) => window.__frames.some((f) => f.type === 'unread' && f.conversation_id === id)",
        customer.id,
    )  # it did arrive as unread, and the read mark after it took it away

    # None of it came from a list refresh: the lists answer the way the socket said.
    ana.unroute("**/inbox/fragments/lists*")
    ana.reload()
    inbox.live(ana)
    expect(ana.locator(card)).to_be_visible()
    expect(ana.locator(f"{card} .unread-count:visible")).to_have_count(0)
    bo.unroute("**/inbox/fragments/lists*")
    bo.reload()
    inbox.live(bo)
    expect(bo.locator(f"{card} .unread-count")).to_have_text("4")
    staffkit.close(ana, ana_tab, bo)
