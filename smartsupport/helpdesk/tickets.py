"""Tickets for conversations: the entry point (``request_ticket``; the contact form of the
offline and overflow paths calls it, ``contact.py``), and the outbox handlers that create them.

    request_ticket ─┬─ low confidence, batching on ─> helpdesk_batch_items + outbox "ticket.batch"
                    │                                  (one per workspace and window, due when
                    │                                   the window closes)
                    └─ otherwise ─────────────────────> outbox "ticket.create"
    outbox worker ──> deliver_ticket / deliver_batch ──> Helpdesk.find_ticket, create_ticket
                                                     ──> helpdesk_tickets rows (webhooks map
                                                         ticket ids back to conversations)

The transcript is read when the ticket is delivered, so a ticket created after an outage
still carries everything the customer said until then.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartsupport.domain import Author, Message, OutboxItem, utcnow
from smartsupport.errors import DeliveryError, NotFound
from smartsupport.handoff.config import for_workspace
from smartsupport.helpdesk import open_helpdesk
from smartsupport.helpdesk.base import TicketDraft, TicketRef
from smartsupport.ids import new_id
from smartsupport.notify.base import inbox_url
from smartsupport.outbox import Entry, enqueue
from smartsupport.services import Services
from smartsupport.storage.base import SqlDatabase

EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,255}\.[A-Za-z]{2,63}$")
MAX_TRANSCRIPT_MESSAGES = 500


@dataclass(slots=True)
class TicketRequest:
    idempotency_key: str
    reference: str  # what the customer is told; stable before the helpdesk answers
    batched: bool
    due: datetime


def reference_for(conversation_id: str) -> str:
    return conversation_id[:8].upper()


async def request_ticket(
    services: Services,
    conversation_id: str,
    *,
    reason: str,
    email: str | None = None,
    name: str | None = None,
    question: str | None = None,
    priority: str | None = None,
    low_confidence: bool = False,
    now: datetime | None = None,
) -> TicketRequest:
    """Queue a helpdesk ticket for a conversation (idempotent: one ticket per conversation;
    a second request is a no-op). Raises NotFound when the workspace has no helpdesk."""
    now = now or utcnow()
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"unknown conversation {conversation_id!r}")
    workspace_id = conversation.workspace_id
    helpdesk = for_workspace(services.workspace(workspace_id)).helpdesk
    if helpdesk is None:
        raise NotFound(f"workspace {workspace_id!r} has no helpdesk configured")
    payload: dict[str, Any] = {
        "conversation_id": conversation_id,
        "reason": reason[:500],
        "email": email,
        "name": name,
        "question": question,
        "priority": priority or conversation.metadata.get("priority") or "normal",
    }
    batching = helpdesk.batch_low_confidence
    db = services.store
    if low_confidence and batching.enabled:
        batch_key, due = batch_window(workspace_id, batching.window_minutes, now)
        await join_batch(db, workspace_id, batch_key, due, payload, now)  # type: ignore[arg-type]
        return TicketRequest(batch_key, reference_for(conversation_id), True, due)
    key = f"ticket:{conversation_id}"
    await enqueue(db, workspace_id, OutboxItem("ticket.create", payload, key), now=now)  # type: ignore[arg-type]
    services.outbox_due.set()
    # Lets the conversation path skip the ticket look-up for the many conversations that
    # never get one (ticket_note runs on every customer message).
    await services.store.update_conversation_metadata(conversation_id, {"helpdesk_ticket": key})
    return TicketRequest(key, reference_for(conversation_id), False, now)


def batch_window(workspace_id: str, window_minutes: float, now: datetime) -> tuple[str, datetime]:
    """The key of the low-confidence batch ``now`` falls in, and when that window closes
    (windows are aligned on the epoch, so every process agrees)."""
    window = timedelta(minutes=window_minutes).total_seconds()
    start = datetime.fromtimestamp((now.timestamp() // window) * window, now.tzinfo)
    return f"batch:{workspace_id}:{start.isoformat()}", start + timedelta(seconds=window)


async def join_batch(
    db: SqlDatabase,
    workspace_id: str,
    batch_key: str,
    due: datetime,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Add a conversation to a low-confidence batch and make sure the batch's ticket is
    queued for when its window closes (both idempotent)."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO helpdesk_batch_items (batch_key, workspace_id, conversation_id, "
            "payload, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (batch_key, conversation_id) DO NOTHING",
            batch_key,
            workspace_id,
            payload["conversation_id"],
            tx.fields.seal_row(  # sealed at rest (storage/fields.py)
                "helpdesk_batch_items",
                {"batch_key": batch_key, "conversation_id": payload["conversation_id"],
                 "payload": payload},
            )["payload"],
            now,
        )  # fmt: skip
        item = OutboxItem("ticket.batch", {"batch_key": batch_key}, batch_key, not_before=due)
        await enqueue(tx, workspace_id, item, now=now)


async def deliver_batch_join(services: Services, entry: Entry) -> dict[str, Any]:
    """The outbox handler of ``ticket.batch_join``: a customer turn the assistant was not
    sure about joins its window's batch (written with the turn, joined here)."""
    payload = entry.payload
    due = datetime.fromisoformat(payload["due"])
    await join_batch(
        services.store,  # type: ignore[arg-type]
        entry.workspace_id,
        payload["batch_key"],
        due,
        payload["ticket"],
        utcnow(),
    )
    return {"batch_key": payload["batch_key"], "due": payload["due"]}


async def ticket_note(services: Services, message: Message) -> tuple[str, OutboxItem] | None:
    """Two-way sync, chat to helpdesk: what the customer writes in the chat after their
    ticket exists is added to the ticket as a note (through the outbox; at least once).
    Returns (workspace id, the note's outbox item) for the caller to write with the
    message, or None. Before the ticket exists nothing is needed: the transcript is read
    when the ticket is created."""
    row = await services.store.fetchrow(  # type: ignore[attr-defined]
        "SELECT workspace_id, external_id FROM helpdesk_tickets WHERE conversation_id = ? "
        "AND idempotency_key = ?",
        message.conversation_id,
        f"ticket:{message.conversation_id}",
    )
    if row is None or message.author is not Author.CUSTOMER:
        return None
    return row["workspace_id"], OutboxItem(
        "ticket.note",
        {"ticket_id": row["external_id"], "text": f"Customer wrote in the chat:\n{message.text}"},
        f"note:{message.id}",
    )


# -- outbox handlers ---------------------------------------------------------------------


async def deliver_note(services: Services, entry: Entry) -> dict[str, Any]:
    try:
        helpdesk = open_helpdesk(services, entry.workspace_id)
    except NotFound as exc:
        raise DeliveryError(str(exc), retryable=False) from exc
    try:
        await helpdesk.add_note(entry.payload["ticket_id"], entry.payload["text"])
    finally:
        await helpdesk.aclose()
    return {"ticket_id": entry.payload["ticket_id"]}


async def deliver_ticket(services: Services, entry: Entry) -> dict[str, Any]:
    payload = entry.payload
    conversation_id = payload["conversation_id"]

    async def draft() -> TicketDraft:
        return await _draft(services, entry.workspace_id, entry.idempotency_key, [payload])

    ref = await _find_or_create(services, entry.workspace_id, entry.idempotency_key, draft)
    await _record(services, entry.workspace_id, [conversation_id], entry, ref)
    return {"ticket_id": ref.external_id, "url": ref.url}


async def deliver_batch(services: Services, entry: Entry) -> dict[str, Any]:
    store: Any = services.store
    found = await store.fetch(
        "SELECT batch_key, conversation_id, payload FROM helpdesk_batch_items "
        "WHERE batch_key = ? ORDER BY created_at",
        entry.payload["batch_key"],
    )
    rows = [store.fields.open_row("helpdesk_batch_items", r) for r in found]
    if not rows:
        return {"ticket_id": None, "conversations": 0}

    async def draft() -> TicketDraft:
        payloads = [r["payload"] for r in rows]
        made = await _draft(services, entry.workspace_id, entry.idempotency_key, payloads)
        made.subject = f"{len(rows)} conversation(s) the assistant was not sure about"
        made.tags.append("low_confidence")
        return made

    ref = await _find_or_create(services, entry.workspace_id, entry.idempotency_key, draft)
    await _record(services, entry.workspace_id, [r["conversation_id"] for r in rows], entry, ref)
    return {"ticket_id": ref.external_id, "url": ref.url, "conversations": len(rows)}


async def _find_or_create(
    services: Services,
    workspace_id: str,
    key: str,
    make_draft: Callable[[], Awaitable[TicketDraft]],
) -> TicketRef:
    try:
        helpdesk = open_helpdesk(services, workspace_id)
    except NotFound as exc:  # the helpdesk was removed from the config: an admin decides
        raise DeliveryError(str(exc), retryable=False) from exc
    try:
        # Always look first: the previous attempt may have created the ticket and lost the
        # response, or its worker may have died after the create.
        found = await helpdesk.find_ticket(key)
        return found or await helpdesk.create_ticket(await make_draft())
    finally:
        await helpdesk.aclose()


async def _draft(
    services: Services, workspace_id: str, key: str, payloads: list[dict[str, Any]]
) -> TicketDraft:
    first = payloads[0]
    sections, tags = [], set()
    email, name = first.get("email"), first.get("name")
    for payload in payloads:
        conversation = await services.store.get_conversation(payload["conversation_id"])
        if conversation is None:
            continue  # deleted meanwhile (privacy erasure): nothing to send for it
        customer = await services.store.get_customer(conversation.customer_id)
        if len(payloads) == 1 and customer is not None:
            email = email or customer.email
            name = name or customer.name
        messages = await services.store.list_messages(
            conversation.id, limit=MAX_TRANSCRIPT_MESSAGES
        )
        intents = {
            m.meta.get("nlu", {}).get("intent") for m in messages if m.author is Author.CUSTOMER
        }
        tags |= {f"intent_{i}" for i in intents if i}
        lines = [
            f"Conversation {conversation.id} ({conversation.channel})",
            f"Reason: {payload.get('reason')}",
            f"Inbox: {inbox_url(services.settings, conversation.id)}",
        ]
        if payload.get("question"):
            lines.append(f"Question: {payload['question']}")
        lines.append("")
        for m in messages:
            who = {"customer": "Customer", "bot": "Assistant", "agent": "Agent"}.get(
                m.author.value, m.author.value
            )
            lines.append(f"[{m.created_at:%Y-%m-%d %H:%M} UTC] {who}: {m.text}")
        sections.append("\n".join(lines))
    config = for_workspace(services.workspace(workspace_id))
    subject_text = (first.get("question") or "Conversation from the chat assistant").splitlines()[0]
    return TicketDraft(
        idempotency_key=key,
        subject=subject_text[:120],
        transcript="\n\n----------\n\n".join(sections) or "(the conversation was deleted)",
        requester_email=email,
        requester_name=name,
        tags=sorted(tags | set(config.helpdesk.tags if config.helpdesk else [])),
        priority=str(first.get("priority") or "normal"),
    )


async def _record(
    services: Services, workspace_id: str, conversation_ids: list[str], entry: Entry, ref: TicketRef
) -> None:
    db = services.store
    helpdesk = for_workspace(services.workspace(workspace_id)).helpdesk
    provider = helpdesk.provider if helpdesk else "unknown"
    for conversation_id in conversation_ids:
        added = await db.execute(  # type: ignore[attr-defined]
            "INSERT INTO helpdesk_tickets (id, workspace_id, conversation_id, provider, "
            "external_id, url, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (idempotency_key, conversation_id) DO NOTHING",
            new_id(),
            workspace_id,
            conversation_id,
            provider,
            ref.external_id,
            ref.url,
            entry.idempotency_key,
            utcnow(),
        )
        if not added or await db.get_conversation(conversation_id) is None:
            continue
        await db.update_conversation_metadata(
            conversation_id,
            {"ticket": {"provider": provider, "id": ref.external_id, "url": ref.url}},
        )
        await db.add_event(
            workspace_id,
            "ticket.created",
            {"provider": provider, "ticket_id": ref.external_id, "outbox_id": entry.id},
            conversation_id=conversation_id,
        )


async def conversations_for_ticket(
    services: Services, workspace_id: str, provider: str, ticket_id: str
) -> list[str]:
    rows = await services.store.fetch(  # type: ignore[attr-defined]
        "SELECT DISTINCT conversation_id FROM helpdesk_tickets "
        "WHERE workspace_id = ? AND provider = ? AND external_id = ?",
        workspace_id,
        provider,
        ticket_id,
    )
    return [r["conversation_id"] for r in rows]
