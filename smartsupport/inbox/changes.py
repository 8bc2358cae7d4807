"""How the inbox changes a conversation and tells everyone who watches.

Two kinds of audience:

- the conversation's channel (``conversation:<id>``): the customer's widget and every agent
  looking at it get messages, status and typing exactly as the conversation path sends them;
- the workspace's inbox channel (``inbox:<workspace>``): every agent's inbox learns that the
  queue or an assignment changed and refreshes what it shows.

The helpers that change state expect the caller to hold the conversation's lock
(``fanout.conversation_lock``, the same lock ``conversation.handle_message`` takes), so a
claim, an agent's reply and a customer's turn never interleave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from smartsupport.channels import channel_for
from smartsupport.domain import Author, Conversation, ConversationStatus, Message
from smartsupport.errors import NotFound
from smartsupport.fanout import conversation_lock, publish, publish_message
from smartsupport.ids import new_id
from smartsupport.services import Services
from smartsupport.staff import StaffUser, require_workspace


def agent_lock(staff_id: str) -> str:
    """Held while an agent's load is checked and changed (taken before a conversation lock,
    never after, so two locks are always taken in the same order)."""
    return f"inbox:agent:{staff_id}"


@asynccontextmanager
async def agent_and_conversation_locks(
    services: Services, staff_id: str, conversation_id: str
) -> AsyncIterator[None]:
    """Hold the agent's lock, then the conversation's: every change that adds to an agent's
    load takes both, always in this order, so two of them can never deadlock."""
    async with services.backplane.lock(agent_lock(staff_id)):
        async with conversation_lock(services, conversation_id):
            yield


async def load(services: Services, conversation_id: str) -> Conversation:
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"unknown conversation {conversation_id!r}")
    return conversation


async def load_for(services: Services, user: StaffUser, conversation_id: str) -> Conversation:
    """The conversation, if ``user`` belongs to its workspace: the check every staff action
    starts with (NotFound for an unknown id, then Forbidden for another workspace)."""
    conversation = await load(services, conversation_id)
    require_workspace(user, conversation.workspace_id)
    return conversation


async def change_status(
    services: Services,
    conversation: Conversation,
    status: ConversationStatus,
    reason: str,
    *,
    named_reason: str | None = None,
    **details: Any,
) -> Conversation:
    """Set the status, log it like the conversation path does, and publish it. The caller
    holds the conversation lock. A staff member's change gives ``reason`` without names
    (analytics counts it: "transferred to the billing team") and ``named_reason`` with
    them ("... by Bo"), which the inbox shows and the store seals (storage/fields.py)."""
    if status != conversation.status:
        conversation = await services.store.set_status(conversation.id, status)
        await publish(services, conversation.id, {"type": "status", "status": status.value})
    await services.store.add_event(
        conversation.workspace_id,
        "conversation.status",
        {
            "status": status.value,
            "reason": reason,
            **({"named_reason": named_reason} if named_reason else {}),
            **details,
        },
        conversation_id=conversation.id,
    )
    return conversation


async def post(
    services: Services,
    conversation_id: str,
    author: Author,
    text: str,
    *,
    client_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Message:
    """Store a message and publish it on the conversation's channel (caller holds the lock).
    A channel that sends messages out itself (email) gets its outbox work in the same
    transaction, so an agent's reply is retried, never dropped."""
    conversation = await load(services, conversation_id)
    message = Message(
        id=new_id(),
        conversation_id=conversation_id,
        seq=0,
        author=author,
        text=text,
        client_id=client_id,
        meta=meta or {},
    )
    outbox = channel_for(conversation.channel).deliveries(conversation, [message])
    await services.store.record_turn(conversation_id, [message], outbox=outbox)
    if outbox:
        services.outbox_due.set()
    await publish_message(services, message)
    return message


async def change_status_with_notice(
    services: Services,
    conversation: Conversation,
    status: ConversationStatus,
    reason: str,
    notice: str,
    meta: dict[str, Any],
    **details: Any,
) -> Conversation:
    """``change_status``, then a system message that tells the customer (and every agent
    watching) who has the conversation now. The caller holds the conversation lock."""
    conversation = await change_status(services, conversation, status, reason, **details)
    await post(services, conversation.id, Author.SYSTEM, notice, meta=meta)
    return conversation
