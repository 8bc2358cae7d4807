"""The demo shop ("Northwind Outfitters"): customers, orders, products and stock, in memory.

Two faces over one ``Shop``:

* ``create_shop_app(shop)`` is the shop's own little HTTP API, the kind of system a real
  business already has. The server mounts it at ``/demo-shop/api``; the demo workspace's
  flows call it like any business API (see ``demo/flows.yaml``).
* ``Shop.describe_order`` answers the keyword bot (keywords.py) directly.

Every order endpoint takes the asking customer (``customer_id`` for an identified customer,
or the order's ``email`` for a visitor) and answers 404 for an order that is not theirs, so
nobody can read another customer's order by guessing numbers. Dates in ``shop.json`` are
relative to today, so the 30-day return window behaves the same whenever the demo runs.
"""

from __future__ import annotations

import copy
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.errors import ConfigurationError
from smartsupport.proxies import is_loopback
from smartsupport.workspaces import DEMO_DIR

RETURN_WINDOW_DAYS = 30
LABEL_DAYS = 14  # articles/returns.md: drop the parcel within 14 days of printing the label
STATUS_TEXT = {
    "processing": "is being prepared in our warehouse",
    "shipped": "has shipped",
    "delivered": "was delivered",
    "cancelled": "was cancelled",
}


@dataclass
class Shop:
    orders: dict[str, dict[str, Any]]
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_return: int = 50002
    # Idempotency key -> the refund it made: a retried refund answers the same, once.
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def find_order(self, order_id: str) -> dict[str, Any] | None:
        key = order_id.upper().replace("ORD", "ORD-").replace("--", "-")
        return self.orders.get(key)

    def describe_order(self, order_id: str) -> str:
        order = self.find_order(order_id)
        if order is None:
            return (
                f"I couldn't find an order {order_id.upper()}. Please check the number "
                "(it looks like ORD-10234) or type 'agent' to talk to a person."
            )
        text = f"Order {order['id']} {STATUS_TEXT.get(order['status'], order['status'])}"
        if order.get("carrier") and order.get("tracking"):
            text += f" with {order['carrier']} (tracking number {order['tracking']})"
        if order["status"] in ("processing", "shipped"):
            text += f"; expected delivery {order['eta']}"
        return text + "."

    # -- the API's rules -------------------------------------------------------------

    def owned_order(
        self, order_id: str, customer_id: str | None, email: str | None
    ) -> dict[str, Any] | None:
        """The order if it belongs to the asker; None for unknown *and* for someone else's
        (the same answer, so order numbers cannot be probed)."""
        order = self.find_order(order_id)
        if order is None:
            return None
        if customer_id and order.get("customer_id") == customer_id:
            return order
        if email and order.get("email", "").casefold() == email.strip().casefold():
            return order
        return None

    def customer_view(self, customer_id: str) -> dict[str, Any] | None:
        customer = self.customers.get(customer_id)
        if customer is None:
            return None
        orders = sorted(
            (o for o in self.orders.values() if o.get("customer_id") == customer_id),
            key=lambda o: (o["placed"], o["id"]),
            reverse=True,
        )
        return {
            **customer,
            "first_name": customer["name"].split()[0],
            "orders": [_summary(o) for o in orders],
            "open_orders": [o["id"] for o in orders if o["status"] in ("processing", "shipped")],
        }

    def order_view(self, order: dict[str, Any], today: date | None = None) -> dict[str, Any]:
        view = {k: v for k, v in order.items() if k not in ("email", "customer_id")}
        view["return"] = self.return_eligibility(order, today)
        view["can_cancel"] = order["status"] == "processing"
        view["can_change_address"] = order["status"] == "processing"
        view["refund"] = order.get("refund") or {"status": "none"}
        view["summary"] = _summary(order)["items"]
        view["tracking_url"] = tracking_url(order.get("carrier"), order.get("tracking"))
        return view

    def return_eligibility(
        self, order: dict[str, Any], today: date | None = None
    ) -> dict[str, Any]:
        today = today or date.today()
        if order.get("return_id"):
            return {
                "eligible": False,
                "reason": "already_returned",
                "return_id": order["return_id"],
            }
        if order["status"] != "delivered" or not order.get("delivered"):
            return {"eligible": False, "reason": "not_delivered"}
        deadline = date.fromisoformat(order["delivered"]) + timedelta(days=RETURN_WINDOW_DAYS)
        days_left = (deadline - today).days
        if days_left < 0:
            return {"eligible": False, "reason": "window_closed", "deadline": deadline.isoformat()}
        return {"eligible": True, "deadline": deadline.isoformat(), "days_left": days_left}

    def cancel(self, order: dict[str, Any]) -> dict[str, Any]:
        order["status"] = "cancelled"
        order["refund"] = {
            "status": "pending",
            "amount": order["total"],
            "method": "original payment",
        }
        return order

    def start_return(self, order: dict[str, Any], reason: str | None) -> str:
        order["return_id"] = return_id = f"RET-{self.next_return}"
        order["return_reason"] = reason
        order["refund"] = {
            "status": "pending",
            "amount": order["total"],
            "method": "original payment",
        }
        self.next_return += 1
        return return_id

    def refund(self, order: dict[str, Any], key: str | None) -> dict[str, Any] | None:
        """Refund a delivered order in full; None when it cannot be (not delivered yet, or
        refunded or being refunded already). ``key``: the caller's idempotency key."""
        if key and key in self.refunds:
            return self.refunds[key]
        if order["status"] != "delivered" or (order.get("refund") or {}).get("status") in (
            "pending",
            "issued",
        ):
            return None
        order["refund"] = {
            "status": "issued",
            "amount": order["total"],
            "method": "original payment",
            "issued": date.today().isoformat(),
        }
        done = {"order_id": order["id"], "currency": order["currency"], **order["refund"]}
        if key:
            self.refunds[key] = done
        return done

    def find_products(self, query: str) -> list[dict[str, Any]]:
        """Products whose name shares the most words with ``query``; a product's
        ``aliases`` (what customers call it, in their languages: "giacca", "夹克") count
        as a whole when the query contains one."""
        q = query.casefold().strip()
        exact = [p for p in self.products.values() if p["id"].casefold() == q]
        if exact:
            return exact
        words = [w for w in q.replace("-", " ").split() if len(w) > 2]
        scored = []
        for product in self.products.values():
            name = product["name"].casefold()
            hits = sum(1 for w in words if w.rstrip("s") in name)
            aliases = [a.casefold() for a in product.get("aliases", [])]
            hits += sum(1 for a in aliases if _contains(q, a))
            if hits:
                scored.append((hits, product))
        scored.sort(key=lambda pair: -pair[0])
        return [p for hits, p in scored if hits == scored[0][0]] if scored else []


def _contains(text: str, phrase: str) -> bool:
    """``phrase`` in ``text``: as whole words in scripts with spaces, anywhere in others."""
    if phrase.isascii() or any("\u00c0" <= ch <= "\u024f" for ch in phrase):
        return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None
    return phrase in text


# The carriers' own public tracking pages (what the order card's "Track" button opens).
TRACKING_PAGES = {
    "UPS": "https://www.ups.com/track?tracknum=",
    "FEDEX": "https://www.fedex.com/fedextrack/?trknbr=",
    "DHL": "https://www.dhl.com/global-en/home/tracking.html?submit=1&tracking-id=",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels=",
}


def tracking_url(carrier: Any, tracking: Any) -> str | None:
    page = TRACKING_PAGES.get(str(carrier or "").upper())
    return f"{page}{tracking}" if page and tracking else None


def _summary(order: dict[str, Any]) -> dict[str, Any]:
    items = ", ".join(f"{i['name']} (size {i['size']})" for i in order.get("items", []))
    return {
        "id": order["id"],
        "status": order["status"],
        "placed": order["placed"],
        "total": order["total"],
        "currency": order["currency"],
        "items": items,
    }


def _dated(order: dict[str, Any], today: date) -> dict[str, Any]:
    """Resolve the relative dates of shop.json (``placed_days_ago``, ...) to ISO dates."""
    order = dict(order)
    for key, target, sign in (
        ("placed_days_ago", "placed", -1),
        ("eta_days", "eta", 1),
        ("delivered_days_ago", "delivered", -1),
    ):
        if key in order:
            order[target] = (today + timedelta(days=sign * int(order.pop(key)))).isoformat()
    if order.get("status") == "delivered" and "delivered" in order:
        order.setdefault("eta", order["delivered"])
    order.setdefault("eta", None)
    refund = order.get("refund")
    if isinstance(refund, dict) and "days_ago" in refund:
        refund = dict(refund)
        refund["issued"] = (today - timedelta(days=int(refund.pop("days_ago")))).isoformat()
        order["refund"] = refund
    return order


def load_shop(path: Path, today: date | None = None) -> Shop:
    """A fresh Shop from a JSON file (each call is independent: tests mutate their own)."""
    today = today or date.today()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Shop(
            orders={o["id"]: _dated(o, today) for o in data["orders"]},
            customers={c["id"]: dict(c) for c in data.get("customers", [])},
            products={p["id"]: copy.deepcopy(p) for p in data.get("products", [])},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path}: cannot load the shop data: {exc}") from exc


class Shops:
    """One Shop per data file, shared by everything in one app that reads or changes the
    demo data (the mounted API, the flows' in-process calls, the keyword bot), so an order
    cancelled in the chat shows as cancelled on /demo-shop/api too. ``create_app`` owns one
    and hands it to each of them."""

    def __init__(self) -> None:
        self._loaded: dict[Path, Shop] = {}

    def get(self, path: Path) -> Shop:
        key = path.resolve()
        if key not in self._loaded:
            self._loaded[key] = load_shop(key)
        return self._loaded[key]


def demo_app(shops: Shops, *, public: bool = False) -> FastAPI:
    """The bundled demo shop's API over the app's demo data, for the server to mount:
    ``app.mount(DEMO_SHOP_PATH, demo_app(shops))``. ``DEMO_SHOP_TOKEN``, when set, is its key.

    It answers a demo customer's email, phone and orders, so unless ``public`` only requests
    from this machine reach it (a loopback peer with no ``X-Forwarded-For``: a reverse proxy
    on the same host forwards strangers from loopback too); others get 404 as if it did not
    exist. The demo's flows call the shop in process and never need the mounted API."""
    app = create_shop_app(
        shops.get(DEMO_DIR / "shop.json"), api_key=os.environ.get("DEMO_SHOP_TOKEN") or None
    )
    if not public:

        @app.middleware("http")
        async def local_only(request: Request, call_next: Any) -> Any:
            peer = request.client.host if request.client else ""
            if not is_loopback(peer) or "x-forwarded-for" in request.headers:
                return JSONResponse({"error": "not found"}, status_code=404)
            return await call_next(request)

    return app


DEMO_SHOP_PATH = "/demo-shop/api"


# -- the HTTP API ------------------------------------------------------------------------


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)


class ReturnIn(Owner):
    reason: str | None = Field(default=None, max_length=500)


class RefundIn(Owner):
    idempotency_key: str | None = Field(default=None, max_length=100)


class AddressIn(Owner):
    address: str = Field(min_length=8, max_length=300)


def create_shop_app(shop: Shop, *, api_key: str | None = None) -> FastAPI:
    """The shop's HTTP API as an ASGI app; mount it (the server uses /demo-shop/api).
    With ``api_key`` every request needs ``Authorization: Bearer <api_key>``."""
    app = FastAPI(title="Northwind Outfitters demo shop API", docs_url=None, redoc_url=None)
    app.state.shop = shop
    app.include_router(_router())

    @app.middleware("http")
    async def require_key(request: Request, call_next: Any) -> Any:
        if api_key is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await call_next(request)

    return app


def _shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


def _order_or_404(request: Request, order_id: str, owner: Owner) -> dict[str, Any]:
    if not (owner.customer_id or owner.email):
        raise HTTPException(400, "say whose order it is: customer_id or email")
    order = _shop(request).owned_order(order_id, owner.customer_id, owner.email)
    if order is None:
        raise HTTPException(404, "no such order for this customer")
    return order


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/customers/{customer_id}")
    async def get_customer(request: Request, customer_id: str) -> dict[str, Any]:
        view = _shop(request).customer_view(customer_id)
        if view is None:
            raise HTTPException(404, "no such customer")
        return view

    @router.get("/orders/{order_id}")
    async def get_order(
        request: Request, order_id: str, customer_id: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        order = _order_or_404(request, order_id, Owner(customer_id=customer_id, email=email))
        return _shop(request).order_view(order)

    @router.post("/orders/{order_id}/cancel")
    async def cancel_order(request: Request, order_id: str, body: Owner) -> JSONResponse:
        order = _order_or_404(request, order_id, body)
        if order["status"] != "processing":
            return JSONResponse(
                {"error": f"order is {order['status']}", "status": order["status"]}, status_code=409
            )
        _shop(request).cancel(order)
        return JSONResponse({"id": order["id"], "status": "cancelled", "refund": order["refund"]})

    @router.post("/orders/{order_id}/returns")
    async def start_return(request: Request, order_id: str, body: ReturnIn) -> JSONResponse:
        order = _order_or_404(request, order_id, body)
        eligibility = _shop(request).return_eligibility(order)
        if not eligibility["eligible"]:
            return JSONResponse({"error": "not eligible", **eligibility}, status_code=409)
        return_id = _shop(request).start_return(order, body.reason)
        return JSONResponse(
            {
                "return_id": return_id,
                "order_id": order["id"],
                "refund_amount": order["total"],
                "currency": order["currency"],
                "label_url": f"https://northwind.example/returns/{return_id}.pdf",
                # The label is issued now: the demo flow reminds the customer the day before.
                "label_expires_at": (
                    datetime.now(UTC).replace(microsecond=0) + timedelta(days=LABEL_DAYS)
                ).isoformat(),
            },
            status_code=201,
        )

    @router.put("/orders/{order_id}/address")
    async def change_address(request: Request, order_id: str, body: AddressIn) -> JSONResponse:
        order = _order_or_404(request, order_id, body)
        if order["status"] != "processing":
            return JSONResponse(
                {"error": f"order is {order['status']}", "status": order["status"]}, status_code=409
            )
        order["address"] = " ".join(body.address.split())
        return JSONResponse({"id": order["id"], "address": order["address"]})

    @router.get("/orders/{order_id}/refund")
    async def refund_status(
        request: Request, order_id: str, customer_id: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        order = _order_or_404(request, order_id, Owner(customer_id=customer_id, email=email))
        refund = order.get("refund") or {"status": "none"}
        return {"order_id": order["id"], "currency": order["currency"], **refund}

    @router.post("/orders/{order_id}/refund")
    async def refund_order(request: Request, order_id: str, body: RefundIn) -> JSONResponse:
        order = _order_or_404(request, order_id, body)
        done = _shop(request).refund(order, body.idempotency_key)
        if done is None:
            refund = order.get("refund") or {"status": "none"}
            return JSONResponse(
                {"error": f"order is {order['status']}, refund {refund['status']}"},
                status_code=409,
            )
        return JSONResponse(done)

    @router.post("/orders/{order_id}/label")
    async def resend_label(request: Request, order_id: str, body: Owner) -> JSONResponse:
        """Send the return label again (to the order's email address)."""
        order = _order_or_404(request, order_id, body)
        if not order.get("return_id"):
            return JSONResponse({"error": "no return was started"}, status_code=409)
        return JSONResponse(
            {
                "return_id": order["return_id"],
                "label_url": f"https://northwind.example/returns/{order['return_id']}.pdf",
                "sent": True,
            }
        )

    @router.get("/products")
    async def search_products(
        request: Request, q: str = Query(min_length=1, max_length=100)
    ) -> dict[str, Any]:
        found = _shop(request).find_products(q)
        if not found:
            raise HTTPException(404, "no such product")
        return {"products": found, "best": found[0], "count": len(found)}

    @router.get("/products/{product_id}/stock")
    async def stock(
        request: Request, product_id: str, size: str = Query(max_length=10)
    ) -> dict[str, Any]:
        product = _shop(request).products.get(product_id.upper())
        if product is None:
            raise HTTPException(404, "no such product")
        levels: dict[str, int] = product["stock"]
        size_key = next((s for s in levels if s.casefold() == size.casefold()), None)
        return {
            "id": product["id"],
            "name": product["name"],
            "price": product["price"],
            "size": size_key or size,
            "size_exists": size_key is not None,
            "quantity": levels.get(size_key or "", 0),
            "in_stock": levels.get(size_key or "", 0) > 0,
            "sizes_in_stock": [s for s, n in levels.items() if n > 0],
        }

    return router
