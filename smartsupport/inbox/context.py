"""The context panel: everything an agent needs to pick up a conversation cold.

Customer details and metadata, the whole transcript (with what the assistant understood of
each customer message: ``meta["nlu"]``), the escalation reason, who holds it, private notes,
the CSAT outcome and the help articles that answer what the customer asked
(inbox/suggestions.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from smartsupport.assistant import Assistant
from smartsupport.domain import Author, Conversation, ConversationStatus, Customer, Message
from smartsupport.errors import SmartsupportError
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.csat import rating_state
from smartsupport.inbox.queue import escalation_reason, priority_of, status_reason
from smartsupport.inbox.store import InboxStore, Note
from smartsupport.inbox.suggestions import for_conversation
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


def _knowledge(services: Services, app_state: Any) -> Any | None:
    """The knowledge base the app answers from (``app.state.kb``), else the assistant's."""
    kb = getattr(app_state, "kb", None)
    if kb is not None and hasattr(kb, "search"):
        return kb
    assistant = services.assistant
    return assistant.knowledge if isinstance(assistant, Assistant) else None


async def suggest(
    services: Services, app_state: Any, conversation: Conversation, messages: list[Message]
) -> Suggestions:
    """The articles that answer what the customer asked (inbox/suggestions.py)."""
    kb = _knowledge(services, app_state)
    assistant = services.assistant
    if kb is None or not isinstance(assistant, Assistant):
        return Suggestions(False)
    workspace = services.workspace(conversation.workspace_id)
    try:
        found = await for_conversation(assistant, workspace, conversation, messages, knowledge=kb)
    except SmartsupportError as exc:
        log.warning("knowledge search failed: %s", exc)
        return Suggestions(False)
    query = found.questions[0] if found.questions else None
    return Suggestions(True, query, [s.as_json() for s in found.suggestions])


async def handoff_reason(services: Services, conversation: Conversation) -> str | None:
    """Why a person is needed: the reason of the latest handoff, else the rules' reason."""
    status_events = await services.store.list_events(
        conversation.workspace_id, type="conversation.status", conversation_id=conversation.id
    )
    handoff = next(
        (
            e
            for e in reversed(status_events)
            if e.data.get("status") == ConversationStatus.WAITING.value
        ),
        None,
    )
    return escalation_reason(
        conversation.metadata, status_reason(handoff.data) if handoff else None
    )


async def conversation_context(
    services: Services, user: StaffUser, conversation_id: str, app_state: Any = None
) -> ConversationContext:
    conversation = await load_for(services, user, conversation_id)
    customer = await services.store.get_customer(conversation.customer_id)
    messages = await services.store.list_messages(conversation_id, limit=MAX_TRANSCRIPT)
    inbox = InboxStore(services.store)
    row = await inbox.row(conversation_id) or {}
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
        reason=await handoff_reason(services, conversation),
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
