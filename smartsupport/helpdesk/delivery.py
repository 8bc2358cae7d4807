"""Agent replies written in a helpdesk reach the customer's conversation."""

from __future__ import annotations

from smartsupport.domain import Author, Message
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.fanout import conversation_lock, publish_message
from smartsupport.services import Services


async def deliver_agent_message(
    services: Services,
    conversation_id: str,
    text: str,
    author_name: str,
    *,
    source: str = "helpdesk",
) -> Message:
    """Store ``text`` as an agent message and publish it to every open widget, under the
    conversation lock so it gets its place in the sequence like any turn. The status is
    left alone: the helpdesk, not the live inbox, holds the conversation."""
    text = text.strip()
    if not text:
        raise InvalidInput("an agent message needs text")
    if len(text) > services.settings.max_message_chars * 4:
        text = text[
            : services.settings.max_message_chars * 4
        ]  # a pasted log must not stall the widget
    async with conversation_lock(services, conversation_id):
        conversation = await services.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"unknown conversation {conversation_id!r}")
        message = await services.store.append_message(
            conversation_id,
            Author.AGENT,
            text,
            meta={"author_name": author_name[:200], "source": source},
        )
        await services.store.add_event(
            conversation.workspace_id,
            "agent.message",
            {"message_id": message.id, "source": source, "author_name": author_name[:200]},
            conversation_id=conversation_id,
        )
        await publish_message(services, message)
    return message
