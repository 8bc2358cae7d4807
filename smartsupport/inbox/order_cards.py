"""Order and product cards for the side panel, built from the business's API.

A workspace names the flows.yaml actions that fetch them (``workspace.yaml``):

    inbox_cards:
      order: get_order        # called with slots.order_id: the order the customer mentioned
      product: get_product    # called with slots.product: each product id of that order's
                              # items and of the customer's messages (at most three)

The order is the one the customer talked about last (an ``order_id`` entity, else the
conversation's metadata: ``canned.order_id``). A card shows the fields of the action's result
it knows (status, dates, total, carrier and tracking, items, refund, return; ``map`` an API's
own names onto them in flows.yaml); a failed call shows as a card that says so, never as an
empty panel. The one-click actions on the order card are the workspace's macros that call a
business action (macros.py), run with the same confirmation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from smartsupport.domain import Author, Conversation, Customer, Message
from smartsupport.inbox import business_actions, canned
from smartsupport.services import Services

KINDS = ("order", "product")
MAX_PRODUCTS = 3
PRODUCT_ENTITIES = ("product_id", "product", "sku")


@dataclass(slots=True)
class Card:
    kind: str
    id: str
    ok: bool
    title: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    link: str | None = None  # e.g. the carrier's tracking page
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "ok": self.ok,
            "title": self.title,
            "fields": [{"label": k, "value": v} for k, v in self.fields],
            "link": self.link,
            "error": self.error,
        }


def configured(services: Services, workspace_id: str) -> dict[str, str]:
    """Card kind -> action name, as the workspace writes it."""
    workspace = services.workspaces.get(workspace_id)
    section = workspace.section("inbox_cards") if workspace else {}
    return {k: str(v) for k, v in section.items() if k in KINDS and isinstance(v, str)}


def product_ids(messages: list[Message], order: dict[str, Any] | None) -> list[str]:
    found: list[str] = []
    for item in (order or {}).get("items") or []:
        if isinstance(item, dict) and item.get("sku"):
            found.append(str(item["sku"]))
    for message in messages:
        if message.author is not Author.CUSTOMER:
            continue
        for entity in (message.meta.get("nlu") or {}).get("entities") or []:
            if entity.get("type") in PRODUCT_ENTITIES and entity.get("value"):
                found.append(str(entity["value"]).upper())
    return list(dict.fromkeys(found))[:MAX_PRODUCTS]


def _money(amount: Any, currency: Any) -> str:
    try:
        return f"{float(amount):.2f} {currency or ''}".strip()
    except (TypeError, ValueError):
        return str(amount)


def order_card(order_id: str, data: dict[str, Any]) -> Card:
    card = Card(
        "order", str(data.get("id") or order_id), True, f"Order {data.get('id') or order_id}"
    )
    add = card.fields.append
    for key, label in (("status", "Status"), ("placed", "Placed"), ("eta", "Delivery")):
        if data.get(key):
            add((label, str(data[key])))
    if data.get("total") is not None:
        add(("Total", _money(data["total"], data.get("currency"))))
    items = data.get("items")
    if isinstance(items, list) and items:
        names = [
            f"{i.get('qty', 1)} × {i.get('name') or i.get('sku')}"
            + (f" (size {i['size']})" if i.get("size") else "")
            for i in items
            if isinstance(i, dict)
        ]
        add(("Items", ", ".join(names)))
    if data.get("carrier") or data.get("tracking"):
        add(("Shipping", " ".join(str(data.get(k) or "") for k in ("carrier", "tracking")).strip()))
    refund = data.get("refund")
    if isinstance(refund, dict) and refund.get("status") not in (None, "none"):
        add(("Refund", f"{refund['status']} {_money(refund.get('amount'), data.get('currency'))}"))
    returned = data.get("return")
    if isinstance(returned, dict):
        if returned.get("return_id"):
            add(("Return", str(returned["return_id"])))
        elif returned.get("eligible"):
            add(("Return", f"eligible until {returned.get('deadline')}"))
    link = data.get("tracking_url")
    card.link = link if isinstance(link, str) and link.startswith("https://") else None
    return card


def product_card(product_id: str, data: dict[str, Any]) -> Card:
    card = Card(
        "product", str(data.get("id") or product_id), True, str(data.get("name") or product_id)
    )
    card.fields.append(("Product", card.id))
    if data.get("price") is not None:
        card.fields.append(("Price", _money(data["price"], data.get("currency"))))
    stock = data.get("stock")
    if isinstance(stock, dict):
        sizes = [str(size) for size, count in stock.items() if isinstance(count, int) and count > 0]
        card.fields.append(("In stock", ", ".join(sizes) if sizes else "sold out"))
    return card


async def cards(
    services: Services,
    conversation: Conversation,
    customer: Customer | None,
    messages: list[Message],
) -> list[Card]:
    """The conversation's order card, then its products' cards."""
    actions = configured(services, conversation.workspace_id)
    workspace = services.workspaces.get(conversation.workspace_id)
    facts = workspace.facts if workspace else None
    contact = conversation.metadata.get("contact")
    email = (customer.email if customer else None) or (
        contact.get("email") if isinstance(contact, dict) else None
    )
    order_id = canned.order_id(conversation, messages)
    found: list[Card] = []
    order: dict[str, Any] | None = None
    if "order" in actions and order_id:
        values = business_actions.scope(conversation, order_id=order_id, email=email, facts=facts)
        result = await business_actions.call(
            services, conversation.workspace_id, actions["order"], values
        )
        if result.ok:
            order = result.data
            found.append(order_card(order_id, result.data))
        else:
            why = (
                "not found for this customer"
                if result.outcome == "not_found"
                else (result.error or result.outcome)
            )
            found.append(Card("order", order_id, False, f"Order {order_id}", error=why))
    if "product" in actions:
        ids = product_ids(messages, order)
        results = await asyncio.gather(
            *(
                business_actions.call(
                    services,
                    conversation.workspace_id,
                    actions["product"],
                    business_actions.scope(
                        conversation,
                        order_id=order_id,
                        email=email,
                        slots={"product": pid},
                        facts=facts,
                    ),
                )  # fmt: skip
                for pid in ids
            )
        )
        for pid, result in zip(ids, results, strict=True):
            if result.ok:
                found.append(product_card(pid, result.data))
            else:
                found.append(Card("product", pid, False, pid, error=result.error or result.outcome))
    return found
