"""Macros and order cards in Debian's chromium against a real server with the demo shop
(issue 16): an admin writes a refund macro (supervisors only) and a thank-you macro on the
macros page; a supervisor holding a conversation about a delivered order sees the order and
its product in the side panel, clicks "Refund the order" on the card, reads what it will do,
double-clicks Confirm, and the customer gets exactly one reply with the refund's amount while
the shop records one refund; on an order that has not arrived the same macro fails and
nothing is half-done: the customer is told nothing and the dialog and a private note say what
failed; an agent sees the refund button disabled; a reply-only macro runs from the composer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import LiveServer
from tests.staffkit import add_user, close, new_page, sign_in

pytestmark = pytest.mark.browser

HUMAN = "I want to talk to a person please"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer({"SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000"}) as live:
        add_user(live, "ada@example.com", "admin", "Ada Admin")
        add_user(live, "sam@example.com", "supervisor", "Sam Super")
        add_user(live, "ana@example.com", "agent", "Ana Agent")
        try:
            yield live
        finally:
            # Their sockets would otherwise be collected during a later test, as an error.
            while CLIENTS:
                CLIENTS.pop().close()


CLIENTS: list[httpx.Client] = []  # closed with the module's server


class Customer:
    """A customer over the widget's REST API (the agent's side is the browser)."""

    def __init__(self, server: LiveServer, order_id: str) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30)
        CLIENTS.append(self.http)
        started = self.http.post(
            "/api/v1/conversations",
            json={
                "workspace": "demo",
                "customer": {"name": "Maria Lopez", "email": "maria@example.com"},
            },
        ).json()
        self.id, self.auth = started["id"], {"Authorization": f"Bearer {started['token']}"}
        for text in (HUMAN, f"It is about my order {order_id}"):
            r = self.http.post(
                f"/api/v1/conversations/{self.id}/messages", json={"text": text}, headers=self.auth
            )
            assert r.status_code == 201, r.text

    def agent_messages(self) -> list[str]:
        r = self.http.get(f"/api/v1/conversations/{self.id}/messages", headers=self.auth)
        return [m["text"] for m in r.json()["messages"] if m["author"] == "agent"]


def shop_order(server: LiveServer, order_id: str) -> dict[str, Any]:
    """The order as the shop's own API shows it (mounted at /demo-shop/api, local only)."""
    r = httpx.get(
        f"{server.url}/demo-shop/api/orders/{order_id}", params={"email": "maria@example.com"}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def write_macro(page: Page, **fields: str) -> None:
    form = page.locator("#macro-form")
    form.get_by_label("Name").fill(fields["name"])
    form.get_by_label("Title").fill(fields["title"])
    form.get_by_label("Who may run it").select_option(fields.get("role", "agent"))
    form.get_by_label("Business action").select_option(fields.get("action", ""))
    form.get_by_label("Reply to the customer").fill(fields.get("reply", ""))
    form.get_by_label("Tags (comma separated)").fill(fields.get("tags", ""))
    form.get_by_label("Then").select_option(fields.get("status", "keep"))
    form.get_by_role("button", name="Save macro").click()
    expect(page.locator(f"tr[data-macro-row='{fields['name']}']")).to_be_visible()


def test_admin_writes_macros_and_a_supervisor_refunds_from_the_order_card(
    browser: Browser, server: LiveServer
) -> None:
    admin = new_page(browser, 1400, 900)
    sign_in(admin, server, "ada@example.com", "/inbox/macros")
    write_macro(
        admin,
        name="refund",
        title="Refund the order",
        role="supervisor",
        action="refund_order",
        reply="Hi {customer_name}, order {order_id} is refunded: "
        "{action.amount} {action.currency}.",
        tags="refund",
        status="resolved",
    )
    write_macro(admin, name="thanks", title="Say thanks", reply="Thanks, {customer_name}!")
    # A wrong placeholder is refused with the reason, and nothing is saved.
    form = admin.locator("#macro-form")
    form.get_by_label("Name").fill("broken")
    form.get_by_label("Title").fill("Broken")
    form.get_by_label("Reply to the customer").fill("Hi {nickname}")
    form.get_by_label("Business action").select_option("")
    form.get_by_role("button", name="Save macro").click()
    expect(admin.locator("#toast")).to_contain_text("unknown placeholder(s) nickname")
    expect(admin.locator("tr[data-macro-row='broken']")).to_have_count(0)
    close(admin)

    happy = Customer(server, "ORD-10238")
    sam = new_page(browser, 1400, 900)
    sign_in(sam, server, "sam@example.com", f"/inbox/conversations/{happy.id}")
    sam.locator(f".conv-actions button[data-action='claim'][data-id='{happy.id}']").click()
    expect(sam.locator("#composer")).to_be_visible()

    card = sam.locator("#business-cards article[data-kind='order']")
    expect(card).to_contain_text("Order ORD-10238")
    expect(card).to_contain_text("delivered")
    expect(sam.locator("#business-cards article[data-kind='product']")).to_contain_text(
        "Rain shell jacket"
    )
    card.get_by_role("button", name="Refund the order").click()
    dialog = sam.locator("#macro-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".macro-steps li").first).to_have_text(
        "Call the business action refund_order for order ORD-10238"
    )
    expect(dialog).to_contain_text("Resolve the conversation")
    dialog.get_by_role("button", name="Confirm").dblclick()  # an impatient double click
    expect(dialog.locator(".macro-result")).to_contain_text("Done: action, reply, tags, status")
    dialog.get_by_role("button", name="Close").click()
    expect(sam.locator("#transcript li.msg.agent")).to_have_count(1)
    expect(sam.locator("#transcript li.msg.agent")).to_contain_text("is refunded: 149.0 USD")
    assert happy.agent_messages() == ["Hi Maria Lopez, order ORD-10238 is refunded: 149.0 USD."]
    assert shop_order(server, "ORD-10238")["refund"]["status"] == "issued"
    expect(sam.locator(".conv-head")).to_have_attribute("data-status", "resolved")
    expect(sam.locator("#conversation-tags")).to_contain_text("refund")

    # ORD-10234 has shipped but not arrived: the shop refuses; nothing is half-done.
    sad = Customer(server, "ORD-10234")
    sam.goto(f"{server.url}/inbox/conversations/{sad.id}")
    sam.locator(f".conv-actions button[data-action='claim'][data-id='{sad.id}']").click()
    expect(sam.locator("#composer")).to_be_visible()
    card = sam.locator("#business-cards article[data-kind='order']")
    expect(card).to_contain_text("shipped")
    card.get_by_role("button", name="Refund the order").click()
    dialog = sam.locator("#macro-dialog")
    dialog.get_by_role("button", name="Confirm").click()
    failed = dialog.locator(".macro-result.failed")
    expect(failed).to_contain_text("Nothing was done: the action step failed (not_refundable)")
    expect(failed).to_have_attribute("role", "alert")
    dialog.get_by_role("button", name="Close").click()
    expect(sam.locator("#notes")).to_contain_text("Macro 'Refund the order' failed")
    expect(sam.locator(".conv-head")).to_have_attribute("data-status", "with_agent")
    assert sad.agent_messages() == []
    assert shop_order(server, "ORD-10234")["refund"] == {"status": "none"}

    # A reply-only macro runs from the composer at once.
    sam.locator("#macro-pick").select_option(label="Say thanks")
    expect(sam.locator("#transcript li.msg.agent")).to_contain_text("Thanks, Maria Lopez!")
    assert sad.agent_messages() == ["Thanks, Maria Lopez!"]
    close(sam)


def test_an_agent_sees_the_refund_needs_a_supervisor(browser: Browser, server: LiveServer) -> None:
    customer = Customer(server, "ORD-10238")
    ana = new_page(browser, 1400, 900)
    sign_in(ana, server, "ana@example.com", f"/inbox/conversations/{customer.id}")
    button = ana.locator("#business-cards").get_by_role("button", name="Refund the order")
    expect(button).to_be_disabled()
    expect(button).to_have_attribute("title", "Needs the supervisor role")
    expect(ana.locator("nav a[href='/inbox/macros']")).to_have_count(0)  # admins only
    close(ana)
