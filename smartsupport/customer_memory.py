"""Customer memory in the bot's context: what is remembered of a returning, verified
customer, as facts a flow's templates and slot prefills can use (issue 16, item 1).

    facts = await remembered(store, conversation)
    # {"name": "Ana Lima", "returning": True, "last_contact": "2026-11-28",
    #  "language": "pt", "references": ["ORD-10234"]}

Flows see them as ``remembered`` (dialogue/engine.py ``scope``), e.g.

    "{{ 'Welcome back, ' + remembered.name + '! ' if remembered.returning else '' }}..."
    prefill: "only(customer.open_orders) or first(remembered.references)"

Only a verified customer is remembered: the conversation must carry a signed identity
(``metadata["identity"]["user_id"]``, set only after ``identity.verify``) naming the very
customer record it belongs to, so an unsigned claim, an e-mail sender or a phone number
never brings back anyone's past. The facts come from the same memories the agent's side panel
shows (``inbox/memory.py`` summarises each resolved conversation into ``customer_memories``,
migration 0024), so erasure and retention take them with the conversations.

``references`` are the order numbers and similar references (``REFERENCE``) named in those
conversations, newest first; a flow's slot checks its own pattern before using one.
``language`` is the language the customer wrote in last time (the NLU's reading of their
message, kept on it). The facts are read when a flow starts and kept in its frame; they go
into replies the flow writes, never into a prompt for a remote LLM (llm/prompt.py sends the
customer's message and the articles only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from smartsupport.domain import Conversation, Customer
from smartsupport.storage.base import SqlDatabase, Store

REFERENCE = re.compile(r"\b[A-Z]{2,5}-?\d{3,}\b")  # ORD-10234, INV12345
RECALLED = 5  # the newest remembered conversations the facts are read from
MAX_REFERENCES = 10


def verified_user(conversation: Conversation) -> str | None:
    """The signed identity's user id the conversation carries, or None."""
    identity = (conversation.metadata or {}).get("identity")
    if isinstance(identity, Mapping) and isinstance(identity.get("user_id"), str):
        return str(identity["user_id"])
    return None


async def verified_customer(store: Store, conversation: Conversation) -> Customer | None:
    """The conversation's customer when its signed identity names that very record, else
    None (no query without a signed identity)."""
    user_id = verified_user(conversation)
    if user_id is None:
        return None
    customer = await store.get_customer(conversation.customer_id)
    if customer is None or customer.external_id != user_id:
        return None  # the identity names someone else's record: remember nothing
    return customer


async def newest_memories(
    store: SqlDatabase, customer_id: str, conversation: Conversation, columns: str, limit: int
) -> list[dict[str, Any]]:
    """The customer's newest memories in the conversation's workspace, other conversations
    than this one: ``conversation_id``, ``updated_at`` and ``columns`` of each."""
    return await store.fetch(
        f"SELECT k.conversation_id, c.updated_at, {columns} FROM customer_memories k "
        "JOIN conversations c ON c.id = k.conversation_id "
        "WHERE k.customer_id = ? AND k.workspace_id = ? AND k.conversation_id <> ? "
        "ORDER BY c.updated_at DESC LIMIT ?",
        customer_id,
        conversation.workspace_id,
        conversation.id,
        limit,
    )


async def remembered(store: Store, conversation: Conversation) -> dict[str, Any] | None:
    """The facts remembered of the conversation's verified customer (module docstring), or
    None when the customer is not verified. Two queries: the customer, then their memories
    with the messages they are made of."""
    customer = await verified_customer(store, conversation)
    if customer is None:
        return None
    if not isinstance(store, SqlDatabase):
        raise TypeError("customer memory needs an SQL store (SQLite or PostgreSQL)")
    rows = await newest_memories(store, customer.id, conversation, "k.message_ids", RECALLED)
    ids = [i for r in rows for i in (r["message_ids"] or [])]
    by_id: dict[str, dict[str, Any]] = {}
    if ids:
        found = await store.fetch(
            "SELECT id, author, text, meta FROM messages "
            f"WHERE id IN ({', '.join('?' for _ in ids)})",
            *ids,
        )
        by_id = {m["id"]: m for m in found}
    references: list[str] = []
    language = None
    for row in rows:  # newest first
        for message_id in reversed(list(row["message_ids"] or [])):  # latest message first
            message = by_id.get(message_id)
            if message is None:
                continue
            meta = message["meta"] or {}
            text = store.fields.open("messages", "text", message_id, message["text"]) or ""
            # A flow's question names an example ("It looks like ORD-10234"), not their case.
            asked = message["author"] != "customer" and meta.get("slot")
            for found_ref in [] if asked else REFERENCE.findall(text):
                if found_ref not in references:
                    references.append(found_ref)
            said = (meta.get("nlu") or {}).get("language")
            if language is None and message["author"] == "customer" and said:
                language = str(said)
    return {
        "name": customer.name,
        "returning": bool(rows),
        "last_contact": rows[0]["updated_at"].date().isoformat() if rows else None,
        "language": language,
        "references": references[:MAX_REFERENCES],
    }
