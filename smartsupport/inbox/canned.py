"""Canned responses: saved replies with placeholders an agent inserts with one click.

    Hi {customer_name}, your order {order_id} left our warehouse today. -- {agent_name}

Placeholders: ``{customer_name}``, ``{customer_email}``, ``{order_id}`` (the latest order id
the customer mentioned: an ``order_id`` entity, else the conversation's metadata),
``{agent_name}`` and ``{workspace_name}``. Bodies are plain text: they become message
text, which every client renders as text, and the inbox escapes them on its pages, so a
``<script>`` in a canned response is shown, never run. A placeholder without a value stays
as written and is reported in ``missing`` so the agent fills it in before sending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from smartsupport.domain import Author, Conversation, Customer, Message
from smartsupport.errors import InvalidInput
from smartsupport.keywords import ORDER_ID

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
KNOWN = ("customer_name", "customer_email", "order_id", "agent_name", "workspace_name")
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TITLE, MAX_BODY = 120, 4000


@dataclass(slots=True)
class Expanded:
    text: str
    missing: list[str] = field(default_factory=list)


def validate(shortcut: str, title: str, body: str) -> tuple[str, str, str]:
    shortcut, title, body = shortcut.strip().lower(), title.strip(), body.strip()
    if not SHORTCUT.match(shortcut):
        raise InvalidInput("a shortcut is 1-40 lowercase letters, digits, '-' or '_'")
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(f"a title is 1-{MAX_TITLE} characters")
    if not body or len(body) > MAX_BODY:
        raise InvalidInput(f"a body is 1-{MAX_BODY} characters")
    unknown = sorted({p for p in PLACEHOLDER.findall(body) if p not in KNOWN})
    if unknown:
        raise InvalidInput(
            f"unknown placeholder(s) {', '.join(unknown)}; use {', '.join(KNOWN)}",
            code="unknown_placeholder",
        )
    return shortcut, title, body


def order_id(conversation: Conversation, messages: list[Message]) -> str | None:
    """The order the customer talked about last."""
    for message in reversed(messages):
        if message.author is not Author.CUSTOMER:
            continue
        entities = (message.meta.get("nlu") or {}).get("entities") or []
        for entity in reversed(entities):
            if entity.get("type") in ("order_id", "order") and entity.get("value"):
                return str(entity["value"])
        match = ORDER_ID.search(message.text)
        if match:
            return match.group(0).upper()
    value = conversation.metadata.get("order_id")
    return str(value) if value else None


def expand(
    body: str,
    *,
    conversation: Conversation,
    customer: Customer | None,
    messages: list[Message],
    agent_name: str,
    workspace_name: str,
) -> Expanded:
    values = {
        "customer_name": customer.name if customer else None,
        "customer_email": customer.email if customer else None,
        "order_id": order_id(conversation, messages),
        "agent_name": agent_name,
        "workspace_name": workspace_name,
    }
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value:
            return value
        if match.group(1) not in missing:
            missing.append(match.group(1))
        return match.group(0)

    return Expanded(PLACEHOLDER.sub(fill, body), missing)
