"""Order and product cards in the side panel (inbox/order_cards.py), built from the demo
shop's real API through the demo workspace's flows.yaml actions: the order the customer
mentioned with its items' products; someone else's order, or a dead API, shows as a card that
says so; a workspace without card actions says it has none."""

from __future__ import annotations

from typing import Any

import pytest

from smartsupport.inbox.order_cards import order_card
from tests.inboxkit import inbox_app


def fields(card: dict[str, Any]) -> dict[str, str]:
    return {f["label"]: f["value"] for f in card["fields"]}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_order_the_customer_mentioned_and_its_products(
    backend, sqlite_url, postgres_url, tmp_path
) -> None:
    url = sqlite_url if backend == "sqlite" else postgres_url
    async with inbox_app(url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting("Maria", email="maria@example.com")
        await visitor.say("My order ORD-10234 has not arrived, and is SKU-2040 in stock?")
        r = await agent.get(f"/api/v1/inbox/conversations/{visitor.id}/cards")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["configured"] is True
        order, *products = body["cards"]
        assert order["kind"] == "order" and order["ok"] and order["title"] == "Order ORD-10234"
        facts = fields(order)
        assert facts["Status"] == "shipped" and facts["Total"] == "89.00 USD"
        assert facts["Items"] == "1 × Trail Runner shoes (size 42)"
        assert facts["Shipping"] == "UPS 1Z999AA10123456784"
        assert order["link"] == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
        assert [(p["kind"], p["id"], p["ok"]) for p in products] == [
            ("product", "SKU-1001", True),  # the order's item
            ("product", "SKU-2040", True),  # the one asked about
        ]
        assert products[0]["title"] == "Trail Runner shoes"
        assert fields(products[0])["In stock"] == "39, 40, 42, 43, 45"

        # The side panel's fragment: escaped HTML with the same cards.
        html = (await agent.get(f"/inbox/fragments/cards/{visitor.id}")).text
        assert "Order ORD-10234" in html and "Trail Runner shoes" in html


async def test_someone_elses_order_and_a_missing_api_say_so(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        stranger = await h.customer_waiting("Eve", email="eve@example.com")
        await stranger.say("What about ORD-10234?")  # Maria's order
        body = (await agent.get(f"/api/v1/inbox/conversations/{stranger.id}/cards")).json()
        assert [(c["kind"], c["ok"], c["error"]) for c in body["cards"]] == [
            ("order", False, "not found for this customer")
        ]
        nothing = await h.customer_waiting("Bo")
        body = (await agent.get(f"/api/v1/inbox/conversations/{nothing.id}/cards")).json()
        assert body == {"configured": True, "cards": []}
        html = (await agent.get(f"/inbox/fragments/cards/{nothing.id}")).text
        assert "has not mentioned an order" in html


async def test_the_dead_shop_api_is_a_card_that_says_so(sqlite_url, tmp_path, monkeypatch) -> None:
    # Nothing listens on port 9 (discard): every call is refused, the breaker counts it.
    monkeypatch.setenv("DEMO_SHOP_URL", "http://127.0.0.1:9")
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting("Maria", email="maria@example.com")
        await visitor.say("Order ORD-10234 please")
        body = (await agent.get(f"/api/v1/inbox/conversations/{visitor.id}/cards")).json()
        assert [(c["kind"], c["ok"], c["error"]) for c in body["cards"]] == [
            ("order", False, "connection refused")
        ]


def test_an_order_card_shows_only_a_safe_tracking_link() -> None:
    card = order_card("ORD-1", {"id": "ORD-1", "tracking_url": "javascript:alert(1)"})
    assert card.link is None
    card = order_card("ORD-1", {"id": "ORD-1", "refund": {"status": "issued", "amount": 5}})
    assert ("Refund", "issued 5.00") in card.fields
