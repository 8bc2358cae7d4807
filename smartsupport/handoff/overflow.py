"""Offline and overflow: when nobody can take the conversation, take a ticket instead.

outside business hours    ``rules.apply`` answers a transfer with the contact form
                          (a bot message whose meta has ``form: "contact"``)
nobody free in time       ``sweep_overflow`` (run by the background worker) finds
                          conversations waiting longer than ``overflow.wait_minutes`` and
                          posts the contact form once; the conversation stays in the queue
the customer fills it in  POST /api/v1/conversations/{id}/contact (the web channel's
                          routes) -> helpdesk.contact.submit_contact: the question is
                          stored, a ticket is queued in the outbox (or, without a helpdesk,
                          the details stay on the inbox conversation), and the customer is
                          told what happens next
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from smartsupport import messages
from smartsupport.domain import Author, ConversationStatus, utcnow
from smartsupport.fanout import conversation_lock, publish_message
from smartsupport.handoff.config import for_workspace
from smartsupport.services import Services

log = logging.getLogger(__name__)


async def sweep_overflow(services: Services, *, now: datetime | None = None) -> int:
    """Post the contact form in conversations that waited too long; returns how many."""
    now = now or utcnow()
    offered = 0
    for workspace in services.workspaces.values():
        # With or without a helpdesk: the details become a ticket, or stay on the inbox
        # conversation so an agent can write back after the customer left (contact.py).
        config = for_workspace(workspace)
        limit = timedelta(minutes=config.overflow.wait_minutes)
        waiting = await services.store.list_conversations(
            workspace.id, status=ConversationStatus.WAITING, limit=500
        )
        for conversation in waiting:
            if conversation.metadata.get("overflow_offered_at"):
                continue
            since = _waiting_since(conversation.metadata, conversation.updated_at)
            if now - since < limit:
                continue
            language = messages.conversation_language(workspace, conversation.metadata)
            text = messages.text(workspace, "handoff.overflow", language)
            if await _offer_contact_form(services, conversation.id, text):
                offered += 1
    return offered


def _waiting_since(metadata: dict[str, Any], fallback: datetime) -> datetime:
    at = (metadata.get("escalation") or {}).get("at")
    try:
        return datetime.fromisoformat(at) if at else fallback
    except ValueError:
        return fallback


async def _offer_contact_form(services: Services, conversation_id: str, text: str) -> bool:
    async with conversation_lock(services, conversation_id):
        conversation = await services.store.get_conversation(conversation_id)
        # Re-checked under the lock: an agent may have claimed it, another process offered.
        if (
            conversation is None
            or conversation.status is not ConversationStatus.WAITING
            or conversation.metadata.get("overflow_offered_at")
        ):
            return False
        message = await services.store.append_message(
            conversation_id, Author.BOT, text, meta={"step": "overflow", "form": "contact"}
        )
        await services.store.update_conversation_metadata(
            conversation_id, {"overflow_offered_at": utcnow().isoformat()}
        )
        await services.store.add_event(
            conversation.workspace_id, "escalation.overflow", {}, conversation_id=conversation_id
        )
        await publish_message(services, message)
    return True
