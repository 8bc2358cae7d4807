"""The demo shop's orders, so a newcomer can ask "where is ORD-10234?" and get real data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartsupport.errors import ConfigurationError

STATUS_TEXT = {
    "processing": "is being prepared in our warehouse",
    "shipped": "has shipped",
    "delivered": "was delivered",
    "cancelled": "was cancelled",
}


@dataclass
class Shop:
    orders: dict[str, dict[str, Any]]

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


def load_shop(path: Path) -> Shop:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Shop({o["id"]: o for o in data["orders"]})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path}: cannot load the shop data: {exc}") from exc
