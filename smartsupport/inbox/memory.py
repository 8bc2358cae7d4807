"""Customer memory: what a verified customer's earlier conversations were about, for the
agent's side panel; the bot's flows read facts from the same memories
(``customer_memory.remembered``: name, last language, references such as order numbers).

    catch_up(store)         each resolved conversation of a customer with a verified identity
                            (``customers.external_id``, set only from a signed identity) gets
                            an extractive summary, embedded with the packaged encoder
                            (``embeddings.get_embedder``); the worker runs it
    recall(store, c)        the same customer's memories, most relevant to what they asked
                            last first; never another customer's, never for an unverified one

The summary is a choice of messages (the first question, one naming an order or reference,
the last answer), stored as their ids and read like any message, so encrypted text stays
encrypted and erasure or retention, which delete conversations and customers, delete
memories with them (foreign keys, migration 0024). The vector is of the summary. When the
answer chain has LLM steps, the worker then asks them for a summary of their own
(memory_summaries.py, migration 0045); a kept one is what ``recall`` shows, with the method
that wrote it (``Memory.method``: ``extractive`` or the step, ``llm:primary``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from smartsupport.customer_memory import REFERENCE
from smartsupport.domain import Author, Conversation, Message, utcnow
from smartsupport.embeddings import get_embedder
from smartsupport.storage.base import SqlDatabase, Store

PART_CHARS = 240
BATCH = 200
KEPT = 50  # memories compared per recall (the newest)


@dataclass(slots=True)
class Memory:
    conversation_id: str
    created_at: datetime
    summary: str
    score: float
    method: str = "extractive"  # or the LLM step that wrote the summary (memory_summaries.py)


def pick(messages: list[Message]) -> list[Message]:
    """The messages a summary is made of: the first question, a later message naming a
    reference (an order number), and the last answer to the customer."""
    asked = [m for m in messages if m.author is Author.CUSTOMER and m.text.strip()]
    if not asked:
        return []
    picked = [asked[0]]
    named = next((m for m in asked[1:] if REFERENCE.search(m.text)), None)
    if named is not None:
        picked.append(named)
    answers = [m for m in messages if m.author in (Author.AGENT, Author.BOT) and m.text.strip()]
    if answers and answers[-1].seq > asked[0].seq:
        picked.append(answers[-1])
    return picked


def summary_of(parts: list[tuple[str, str]]) -> str:
    """(author, text) pairs as one line: "Customer: … / Answer: …"."""
    lines = []
    for author, text in parts:
        label = "Customer" if author == Author.CUSTOMER.value else "Answer"
        short = " ".join(text.split())
        lines.append(f"{label}: {short[:PART_CHARS]}{'…' if len(short) > PART_CHARS else ''}")
    return " / ".join(lines)


async def catch_up(store: Store, *, batch: int = BATCH) -> int:
    """Remember the resolved conversations of verified customers not remembered yet."""
    db = _sql(store)
    rows = await db.fetch(
        "SELECT c.id, c.workspace_id, c.customer_id FROM conversations c "
        "JOIN customers cu ON cu.id = c.customer_id "
        "LEFT JOIN customer_memories k ON k.conversation_id = c.id "
        "WHERE c.status = 'resolved' AND cu.external_id IS NOT NULL "
        "AND k.conversation_id IS NULL ORDER BY c.updated_at LIMIT ?",
        batch,
    )
    if not rows:
        return 0
    chosen = [pick(await store.list_messages(r["id"], limit=500)) for r in rows]
    texts = [summary_of([(m.author.value, m.text) for m in p]) for p in chosen]
    # In a thread: the model's work would hold the event loop (every open socket).
    vectors = await asyncio.to_thread(get_embedder().encode, [t or " " for t in texts])
    for row, picked, vector in zip(rows, chosen, vectors, strict=True):
        await db.execute(
            "INSERT INTO customer_memories (conversation_id, workspace_id, customer_id, "
            "message_ids, vector, created_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (conversation_id) DO NOTHING",
            row["id"],
            row["workspace_id"],
            row["customer_id"],
            [m.id for m in picked],
            [round(float(x), 6) for x in vector] if picked else [],
            utcnow(),
        )
    return len(rows)


async def recall(store: Store, conversation: Conversation, *, limit: int = 3) -> list[Memory]:
    """The customer's earlier conversations, most relevant first (see module docstring)."""
    customer = await store.get_customer(conversation.customer_id)
    if customer is None or not customer.external_id:
        return []  # only a verified customer's own memory is ever used
    db = _sql(store)
    rows = await db.fetch(
        "SELECT conversation_id, message_ids, vector, created_at, summary, method "
        "FROM customer_memories WHERE customer_id = ? AND workspace_id = ? "
        "AND conversation_id <> ? ORDER BY created_at DESC LIMIT ?",
        conversation.customer_id,
        conversation.workspace_id,
        conversation.id,
        KEPT,
    )
    rows = [r for r in rows if r["message_ids"] and r["vector"]]
    if not rows:
        return []
    latest = [m for m in await store.list_messages(conversation.id) if m.author is Author.CUSTOMER]
    scores = [1.0 - i / len(rows) for i in range(len(rows))]  # newest first without a question
    if latest:
        query = (await asyncio.to_thread(get_embedder().encode, [latest[-1].text]))[0]
        scores = [float(np.dot(np.asarray(r["vector"], dtype=np.float32), query)) for r in rows]
    ranked = sorted(zip(scores, rows, strict=True), key=lambda pair: -pair[0])[:limit]
    return [
        Memory(
            row["conversation_id"], row["created_at"], await _summary(db, row), score, row["method"]
        )
        for score, row in ranked
    ]


async def _summary(db: SqlDatabase, row: dict[str, Any]) -> str:
    if row.get("summary"):  # the model's, kept (memory_summaries.py)
        return str(db.fields.open("customer_memories", "summary", row["conversation_id"],
                                  row["summary"]))  # fmt: skip
    ids = list(row["message_ids"])
    found = await db.fetch(
        f"SELECT id, author, text FROM messages WHERE id IN ({', '.join('?' for _ in ids)})",
        *ids,
    )
    by_id = {m["id"]: m for m in found}
    parts = [
        (by_id[i]["author"], db.fields.open("messages", "text", i, by_id[i]["text"]) or "")
        for i in ids
        if i in by_id
    ]
    return summary_of(parts)


def _sql(store: Store) -> SqlDatabase:
    if not isinstance(store, SqlDatabase):
        raise TypeError("customer memory needs an SQL store (SQLite or PostgreSQL)")
    return store
