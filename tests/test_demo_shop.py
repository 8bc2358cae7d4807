"""The demo shop: its HTTP API answers each customer about their own orders only, applies
the 30-day return window, refuses changes to shipped orders, and the first policy's
``describe_order`` keeps working."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from smartsupport.demo_shop import Shops, create_shop_app, load_shop
from smartsupport.errors import ConfigurationError
from smartsupport.workspaces import DEMO_DIR

SHOP_FILE = DEMO_DIR / "shop.json"


@pytest.fixture
async def api():
    shop = load_shop(SHOP_FILE)
    transport = httpx.ASGITransport(app=create_shop_app(shop, api_key="k-123"))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://shop", headers={"Authorization": "Bearer k-123"}
    ) as client:
        client.shop = shop  # type: ignore[attr-defined]
        yield client


async def test_the_api_needs_its_key(api):
    response = await api.get("/customers/cust-maria", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_a_customer_profile_lists_their_orders_newest_first(api):
    profile = (await api.get("/customers/cust-maria")).json()
    assert profile["segment"] == "vip" and profile["first_name"] == "Maria"
    ids = [o["id"] for o in profile["orders"]]
    assert ids[0] == "ORD-10235" and "ORD-10236" not in ids
    assert profile["open_orders"] == ["ORD-10235", "ORD-10244", "ORD-10234"]
    assert (await api.get("/customers/nobody")).status_code == 404


async def test_orders_are_only_visible_to_their_owner(api):
    mine = await api.get("/orders/ORD-10234", params={"customer_id": "cust-maria"})
    assert mine.status_code == 200 and mine.json()["tracking"] == "1Z999AA10123456784"
    assert "email" not in mine.json() and "customer_id" not in mine.json()
    by_email = await api.get("/orders/ord10234", params={"email": "Maria@Example.com"})
    assert by_email.status_code == 200
    for params in ({"customer_id": "cust-li"}, {"email": "li.wei@example.com"}):
        other = await api.get("/orders/ORD-10234", params=params)
        assert other.status_code == 404  # the same answer as for an unknown number
    assert (
        await api.get("/orders/ORD-99999", params={"customer_id": "cust-li"})
    ).status_code == 404
    assert (await api.get("/orders/ORD-10234")).status_code == 400


async def test_return_eligibility_follows_the_30_day_window(api):
    def eligibility(order_id, owner):
        return api.get(f"/orders/{order_id}", params={"customer_id": owner})

    recent = (await eligibility("ORD-10238", "cust-maria")).json()["return"]
    assert recent["eligible"] is True and recent["days_left"] == 25
    old = (await eligibility("ORD-10236", "cust-li")).json()["return"]
    assert old == {
        "eligible": False,
        "reason": "window_closed",
        "deadline": (date.today() - timedelta(days=16)).isoformat(),
    }
    assert (await eligibility("ORD-10234", "cust-maria")).json()["return"]["reason"] == (
        "not_delivered"
    )


async def test_start_a_return_gives_a_number_once(api):
    body = {"customer_id": "cust-maria", "reason": "too small"}
    created = await api.post("/orders/ORD-10238/returns", json=body)
    assert created.status_code == 201 and created.json()["return_id"] == "RET-50002"
    again = await api.post("/orders/ORD-10238/returns", json=body)
    assert again.status_code == 409 and again.json()["reason"] == "already_returned"
    refund = (
        await api.get("/orders/ORD-10238/refund", params={"customer_id": "cust-maria"})
    ).json()
    assert refund["status"] == "pending" and refund["amount"] == 149.0


async def test_cancel_and_address_change_only_before_shipping(api):
    owner = {"customer_id": "cust-maria"}
    moved = await api.put(
        "/orders/ORD-10235/address", json={**owner, "address": "77 Beacon   Street, Boston 02108"}
    )
    assert moved.status_code == 200 and moved.json()["address"] == "77 Beacon Street, Boston 02108"
    assert (
        await api.put(
            "/orders/ORD-10234/address", json={**owner, "address": "77 Beacon Street, Boston"}
        )
    ).status_code == 409
    assert (await api.post("/orders/ORD-10234/cancel", json=owner)).status_code == 409
    cancelled = await api.post("/orders/ORD-10235/cancel", json=owner)
    assert cancelled.status_code == 200 and cancelled.json()["refund"]["amount"] == 128.0
    assert (await api.post("/orders/ORD-10235/cancel", json=owner)).status_code == 409
    assert (
        await api.post("/orders/ORD-10235/cancel", json={"customer_id": "cust-li"})
    ).status_code == 404


async def test_products_and_stock_by_size(api):
    found = (await api.get("/products", params={"q": "trail runners"})).json()
    assert found["best"]["id"] == "SKU-1001"
    assert (await api.get("/products", params={"q": "unicorn onesie"})).status_code == 404
    stock = (await api.get("/products/SKU-1001/stock", params={"size": "41"})).json()
    assert stock["in_stock"] is False and stock["sizes_in_stock"] == ["39", "40", "42", "43", "45"]
    sweater = (await api.get("/products/sku-2040/stock", params={"size": "m"})).json()
    assert sweater["size"] == "M" and sweater["quantity"] == 7
    odd = (await api.get("/products/SKU-1001/stock", params={"size": "XL"})).json()
    assert odd["size_exists"] is False


def test_describe_order_still_answers_the_keyword_bot():
    shop = load_shop(SHOP_FILE)
    text = shop.describe_order("ord-10234")
    assert "ORD-10234 has shipped with UPS (tracking number 1Z999AA10123456784)" in text
    assert "expected delivery" in text
    assert "couldn't find" in shop.describe_order("ORD-1")


def test_shops_keep_one_shop_per_file_and_load_errors_name_the_file(tmp_path):
    shops = Shops()
    assert shops.get(SHOP_FILE) is shops.get(SHOP_FILE)
    assert Shops().get(SHOP_FILE) is not shops.get(SHOP_FILE)  # each app has its own
    bad = tmp_path / "shop.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigurationError, match="shop.json"):
        load_shop(bad)
