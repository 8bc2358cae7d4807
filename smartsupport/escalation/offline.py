"""Offline and overflow: when nobody can take the conversation, take a ticket instead.

outside business hours    ``rules.apply`` answers a transfer with the contact form
                          (a bot message whose meta has ``form: "contact"``)
nobody free in time       ``sweep_overflow`` (run by the outbox worker) finds conversations
                          waiting longer than ``overflow.wait_minutes`` and posts the
                          contact form once; the conversation stays in the queue
the customer fills it in  POST /api/v1/conversations/{id}/contact (visitor token)
                          -> helpdesk.tickets.submit_contact: the question is stored, a
                          ticket is queued in the outbox, and the customer is told what
                          happens next
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.conversation import publish
from smartsupport.domain import Author, Conversation, ConversationStatus, utcnow
from smartsupport.errors import Conflict
from smartsupport.escalation.config import for_workspace
from smartsupport.services import Services
from smartsupport.web_api import visitor_conversation
from smartsupport.wire import message_json

log = logging.getLogger(__name__)
SWEEP_EVERY = 15.0  # seconds between overflow sweeps in one process
_last_sweep: dict[int, float] = {}

router = APIRouter(prefix="/api/v1", tags=["web channel"])


async def sweep_overflow(
    services: Services, *, now: datetime | None = None, force: bool = False
) -> int:
    """Post the contact form in conversations that waited too long; returns how many."""
    clock = time.monotonic()
    if not force and clock - _last_sweep.get(id(services), 0.0) < SWEEP_EVERY:
        return 0
    _last_sweep[id(services)] = clock
    now = now or utcnow()
    offered = 0
    for workspace in services.workspaces.values():
        config = for_workspace(workspace)
        if config.helpdesk is None:
            continue  # without a helpdesk there is nothing better to offer than waiting
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
            if await _offer_contact_form(services, conversation.id, config.messages.overflow):
                offered += 1
    return offered


def _waiting_since(metadata: dict[str, Any], fallback: datetime) -> datetime:
    at = (metadata.get("escalation") or {}).get("at")
    try:
        return datetime.fromisoformat(at) if at else fallback
    except ValueError:
        return fallback


async def _offer_contact_form(services: Services, conversation_id: str, text: str) -> bool:
    async with services.backplane.lock(f"lock:{conversation_id}"):
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
        await publish(
            services, conversation_id, {"type": "message", "message": message_json(message)}
        )
    return True


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320)
    name: str | None = Field(default=None, max_length=200)
    question: str = Field(min_length=1, max_length=100_000)


@router.post("/conversations/{conversation_id}/contact", status_code=201)
async def leave_contact_details(
    conversation_id: str,
    body: ContactIn,
    request: Request,
    conversation: Annotated[Conversation, Depends(visitor_conversation)],
) -> dict[str, Any]:
    """The customer's email and question when nobody can answer live: a ticket is created
    in the workspace's helpdesk (through the outbox) and the reply says what happens next."""
    from smartsupport.helpdesk.tickets import reference_for, submit_contact

    services: Services = request.app.state.services
    if for_workspace(services.workspace(conversation.workspace_id)).helpdesk is None:
        raise Conflict("this workspace takes no offline requests (no helpdesk configured)")
    stored = await submit_contact(
        services, conversation_id, email=body.email, question=body.question, name=body.name
    )
    return {
        "reference": reference_for(conversation_id),
        "messages": [message_json(m) for m in stored],
    }
