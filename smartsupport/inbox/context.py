"""The context panel: everything an agent needs to pick up a conversation cold.

Customer details and metadata, the whole transcript (with what the assistant understood of
each customer message: ``meta["nlu"]``), the escalation reason, who holds it, private notes,
the CSAT outcome and knowledge-base suggestions for the customer's last question.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from smartsupport.domain import Author, Conversation, ConversationStatus, Customer, Message
from smartsupport.errors import SmartsupportError
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.csat import rating_state
from smartsupport.inbox.queue import escalation_reason, priority_of
from smartsupport.inbox.store import InboxStore, Note
from smartsupport.rich import blocks, dump
from smartsupport.services import Services
from smartsupport.staff import StaffUser
from smartsupport.staff.store import StaffStore
from smartsupport.wire import attachments_json

log = logging.getLogger("smartsupport.inbox")
MAX_TRANSCRIPT = 2000


@dataclass(slots=True)
class Suggestions:
    available: bool  # False: no knowledge base to search (shown as such, not hidden)
    query: str | None = None
    passages: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ConversationContext:
    conversation: Conversation
    customer: Customer | None
    messages: list[Message]
    priority: str
    reason: str | None
    holder_id: str | None
    holder_name: str | None
    team: str | None
    intent: str | None
    confidence: float | None
    sentiment: float | None
    language: str | None
    entities: list[dict[str, Any]]
    notes: list[Note]
    csat: dict[str, Any]
    suggestions: Suggestions

    @property
    def sentiment_label(self) -> str:
        if self.sentiment is None:
            return "unknown"
        return (
            "negative"
            if self.sentiment < -0.25
            else "positive"
            if self.sentiment > 0.25
            else "neutral"
        )


async def _knowledge(services: Services, app_state: Any) -> Any | None:
    """The knowledge base the assistant answers from (the app's), else one built on the
    store for keyword search."""
    for kb in (
        getattr(services, "knowledge", None),
        getattr(app_state, "kb", None),
    ):
        if kb is not None and hasattr(kb, "search"):
            return kb
    cached = getattr(app_state, "inbox_knowledge", None)
    if cached is None:
        try:
            from smartsupport.knowledge.kb import KnowledgeBase
        except ImportError:
            return None
        cached = KnowledgeBase(services.store)  # type: ignore[arg-type]
        # Loading the embedding model takes seconds: off the event loop, once.
        await asyncio.to_thread(lambda: cached.embedder)
        app_state.inbox_knowledge = cached
    return cached


async def suggest(
    services: Services, app_state: Any, conversation: Conversation, messages: list[Message]
) -> Suggestions:
    kb = await _knowledge(services, app_state)
    if kb is None:
        return Suggestions(False)
    query = next((m.text for m in reversed(messages) if m.author is Author.CUSTOMER), None)
    if not query:
        return Suggestions(True)
    # The customer's language only: an English speaker gets no Spanish article.
    kwargs: dict[str, Any] = {"k": 6, "locale": conversation.metadata.get("locale")}
    own = getattr(app_state, "inbox_knowledge", None)
    if own is not None and own is kb:
        kwargs["mode"] = "keyword"  # our own: no embedding of the query per page view
    try:
        found = await kb.search(conversation.workspace_id, query, **kwargs)
    except SmartsupportError as exc:
        log.warning("knowledge search failed: %s", exc)
        return Suggestions(False, query)
    best: dict[str, Any] = {}
    for passage in found:  # best first: keep one passage per article
        best.setdefault(passage.article_id, passage)
    found = list(best.values())[:3]
    return Suggestions(
        True,
        query,
        [
            {"title": p.title, "text": p.text[:400], "url": p.url, "score": round(p.score, 3)}
            for p in found
        ],
    )


async def conversation_context(
    services: Services, user: StaffUser, conversation_id: str, app_state: Any = None
) -> ConversationContext:
    conversation = await load_for(services, user, conversation_id)
    customer = await services.store.get_customer(conversation.customer_id)
    messages = await services.store.list_messages(conversation_id, limit=MAX_TRANSCRIPT)
    inbox = InboxStore(services.store)
    row = await inbox.row(conversation_id) or {}
    status_events = await services.store.list_events(
        conversation.workspace_id, type="conversation.status", conversation_id=conversation_id
    )
    handoff = next(
        (
            e
            for e in reversed(status_events)
            if e.data.get("status") == ConversationStatus.WAITING.value
        ),
        None,
    )
    holder_id = (
        row.get("agent_id") if conversation.status is ConversationStatus.WITH_AGENT else None
    )
    holder = await StaffStore(services.store).get_user(holder_id) if holder_id else None
    analysed = [m for m in messages if m.author is Author.CUSTOMER and m.meta.get("nlu")]
    latest = analysed[-1].meta["nlu"] if analysed else {}
    entities = [
        {**e, "message_seq": m.seq} for m in analysed for e in (m.meta["nlu"].get("entities") or [])
    ]
    return ConversationContext(
        conversation=conversation,
        customer=customer,
        messages=messages,
        priority=priority_of(conversation.metadata),
        reason=escalation_reason(
            conversation.metadata, handoff.data.get("reason") if handoff else None
        ),
        holder_id=holder_id,
        holder_name=holder.name if holder else None,
        team=row.get("team"),
        intent=latest.get("intent"),
        confidence=latest.get("confidence"),
        sentiment=latest.get("sentiment") if latest else None,
        language=latest.get("language"),
        entities=entities,
        notes=await inbox.notes(conversation_id),
        csat=rating_state(row),
        suggestions=await suggest(services, app_state, conversation, messages),
    )


def message_view(message: Message) -> dict[str, Any]:
    """A message as staff see it: the customer's view plus the analysis and the agent."""
    nlu = message.meta.get("nlu") or {}
    return {
        "id": message.id,
        "seq": message.seq,
        "author": message.author.value,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "agent_name": message.meta.get("agent_name"),
        "intent": nlu.get("intent"),
        "confidence": nlu.get("confidence"),
        "sentiment": nlu.get("sentiment"),
        "attachments": attachments_json(message, staff_url),
        "rich": dump(blocks(message.meta)),
    }


def staff_url(attachment_id: str) -> str:
    """Where staff open a file (inbox/attachments.py)."""
    return f"/api/v1/inbox/attachments/{attachment_id}"
