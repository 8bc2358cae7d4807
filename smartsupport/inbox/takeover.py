"""Live takeover: what the agent holding a conversation does in it.

While an agent holds a conversation its status is ``with_agent`` and the assistant stays
silent (assistant.decide returns nothing); the customer's messages still go through the
conversation path, so they are stored, understood and published as always. Handing back
sets the status to ``bot`` and the assistant answers the next message again.

Agent messages are stored with ``Author.AGENT`` and published on the conversation's channel
exactly like bot replies, under the conversation lock.
"""

from __future__ import annotations

from typing import Any

from smartsupport.domain import Author, Conversation, ConversationStatus, Message, utcnow
from smartsupport.errors import Conflict, InvalidInput
from smartsupport.fanout import conversation_lock, publish
from smartsupport.inbox.assignment import assign, publish_change, require_holder
from smartsupport.inbox.changes import (
    agent_and_conversation_locks,
    change_status,
    change_status_with_notice,
    load,
    load_for,
    post,
)
from smartsupport.inbox.csat import request_rating
from smartsupport.inbox.queue import PRIORITIES
from smartsupport.inbox.store import InboxStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser


async def send_agent_message(
    services: Services,
    user: StaffUser,
    conversation_id: str,
    text: str,
    client_id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> Message:
    """Store the agent's reply and publish it; only the holder may write. ``attachments``:
    the files it lists (``attachment_records`` descriptors)."""
    text = text.strip()
    if not text:
        raise InvalidInput("message text is empty")
    limit = services.settings.max_message_chars
    if len(text) > limit:
        raise InvalidInput(
            f"message is {len(text)} characters; the limit is {limit}", code="message_too_long"
        )
    await load_for(services, user, conversation_id)
    inbox = InboxStore(services.store)
    async with conversation_lock(services, conversation_id):
        conversation = await load(services, conversation_id)
        if client_id:
            seen = await services.store.get_message_by_client_id(conversation_id, client_id)
            if seen is not None:
                return seen  # a retried send is stored once
        row = await inbox.row(conversation_id)
        require_holder(user, conversation, row)
        if (row or {}).get("agent_id") != user.id:
            raise Conflict("claim or take over the conversation to reply", code="not_holder")
        message = await post(
            services,
            conversation_id,
            Author.AGENT,
            text,
            client_id=client_id,
            meta={
                "agent_id": user.id,
                "agent_name": user.name,
                **({"attachments": attachments} if attachments else {}),
            },
        )
    await publish(services, conversation_id, {"type": "typing", "author": "agent", "on": False})
    return message


async def agent_typing(services: Services, user: StaffUser, conversation_id: str, on: bool) -> None:
    """Show the customer that the agent is typing (only the holder's typing is shown)."""
    conversation = await load_for(services, user, conversation_id)
    row = await InboxStore(services.store).row(conversation_id)
    if (
        conversation.status is ConversationStatus.WITH_AGENT
        and (row or {}).get("agent_id") == user.id
    ):
        await publish(services, conversation_id, {"type": "typing", "author": "agent", "on": on})


async def hand_back(services: Services, user: StaffUser, conversation_id: str) -> Conversation:
    """Give the conversation back to the assistant, which answers the next message."""
    await load_for(services, user, conversation_id)
    inbox = InboxStore(services.store)
    async with conversation_lock(services, conversation_id):
        conversation = await load(services, conversation_id)
        require_holder(user, conversation, await inbox.row(conversation_id))
        await inbox.update(conversation_id, conversation.workspace_id, agent_id=None)
        conversation = await change_status_with_notice(
            services,
            conversation,
            ConversationStatus.BOT,
            "handed back to the assistant",
            "You're chatting with our virtual assistant again. Type 'agent' to reach a person.",
            {"inbox": "handed_back"},
            named_reason=f"handed back to the assistant by {user.name}",
        )
    await publish_change(services, conversation.workspace_id, "handed_back", conversation_id)
    return conversation


async def resolve(services: Services, user: StaffUser, conversation_id: str) -> Conversation:
    """Close the conversation and ask the customer for a rating."""
    await load_for(services, user, conversation_id)
    inbox = InboxStore(services.store)
    async with conversation_lock(services, conversation_id):
        conversation = await load(services, conversation_id)
        row = await inbox.row(conversation_id)
        if conversation.status is ConversationStatus.RESOLVED:
            raise Conflict("this conversation is already resolved", code="already_resolved")
        if conversation.status is ConversationStatus.WITH_AGENT:
            require_holder(user, conversation, row)
        elif not user.has_role("supervisor"):
            # Waiting or bot conversations are closed from the queue by supervisors only.
            raise Conflict("claim the conversation before resolving it", code="not_claimed")
        now = utcnow()
        await inbox.update(
            conversation_id,
            conversation.workspace_id,
            agent_id=None,
            offered_to=None,
            offer_expires_at=None,
            resolved_at=now,
            resolved_by=user.id,
        )
        conversation = await change_status(
            services,
            conversation,
            ConversationStatus.RESOLVED,
            "resolved by an agent",
            named_reason=f"resolved by {user.name}",
        )
        await request_rating(services, conversation)
    await publish_change(services, conversation.workspace_id, "resolved", conversation_id)
    return conversation


async def reopen(services: Services, user: StaffUser, conversation_id: str) -> Conversation:
    """Take a resolved conversation up again; the reopening agent holds it."""
    await load_for(services, user, conversation_id)
    async with agent_and_conversation_locks(services, user.id, conversation_id):
        conversation = await load(services, conversation_id)
        if conversation.status is not ConversationStatus.RESOLVED:
            raise Conflict("only a resolved conversation can be reopened", code="not_resolved")
        conversation = await assign(
            services,
            conversation,
            user.id,
            called="you",
            reason="reopened by an agent",
            named_reason=f"reopened by {user.name}",
            notice=f"{user.name} reopened the conversation.",
            change="reopened",
            resolved_at=None,
            csat_requested_at=None,
        )
    await publish_change(services, conversation.workspace_id, "reopened", conversation_id)
    return conversation


async def set_priority(
    services: Services, user: StaffUser, conversation_id: str, priority: str
) -> Conversation:
    if priority not in PRIORITIES:
        raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
    await load_for(services, user, conversation_id)
    conversation = await services.store.update_conversation_metadata(
        conversation_id, {"priority": priority}
    )
    await services.store.add_event(
        conversation.workspace_id,
        "inbox.priority",
        {"priority": priority, "by": user.id},
        conversation_id=conversation_id,
    )
    await publish_change(services, conversation.workspace_id, "priority", conversation_id)
    return conversation
