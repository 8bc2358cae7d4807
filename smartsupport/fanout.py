"""The one place that owns a conversation's lock and what is published about it.

    conversation_lock(services, id)   one turn or change at a time, across processes; every
                                      writer of a conversation (customer turns, agents,
                                      helpdesk webhooks, timers) takes it
    publish(services, id, event)      every open widget and agent view of the conversation
    publish_message(services, m)      a stored message, as the widget shows it (and a
                                      customer's in a waiting conversation: ``unread_event``)
    announce(services, ws, change)    every agent inbox of the workspace refreshes its queue
    unread_event(conversation, m)     every agent inbox of the workspace counts one more
                                      unread message on the queue's card, from this event
                                      alone (no list refresh, no query per inbox)

Channel names and message shapes come from ``wire``; this module adds the services.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from smartsupport.backplane.base import Held
from smartsupport.domain import Author, Conversation, ConversationStatus, Message
from smartsupport.frames import UnreadMessage
from smartsupport.services import Services
from smartsupport.wire import conversation_channel, inbox_channel, message_json

Publication = tuple[str, dict[str, Any]]  # (channel, event), for Held.on_release
# The holder renews the lease every third of it while a turn runs (backplane/base.py), so
# a process killed mid-turn blocks its conversations for at most this long, and a waiter
# (it waits up to 10 s) gets the lock instead of "unavailable". docs/deployment.md.
LOCK_LEASE = 5.0


def lock_key(conversation_id: str) -> str:
    return f"lock:{conversation_id}"


def conversation_lock(
    services: Services, conversation_id: str, *, read: Sequence[str] = ()
) -> AbstractAsyncContextManager[Held]:
    """Hold the conversation's lock; ``read`` keys come back with it (one round trip)."""
    return services.backplane.lock(lock_key(conversation_id), lease=LOCK_LEASE, read=read)


def conversation_event(conversation_id: str, event: dict[str, Any]) -> Publication:
    return conversation_channel(conversation_id), event


def message_event(message: Message) -> Publication:
    return conversation_event(
        message.conversation_id, {"type": "message", "message": message_json(message)}
    )


def inbox_event(workspace_id: str, change: str, conversation_id: str | None = None) -> Publication:
    return inbox_channel(workspace_id), {
        "type": "inbox",
        "change": change,
        "conversation_id": conversation_id,
    }


def unread_event(conversation: Conversation, message: Message) -> Publication | None:
    """The customer's stored ``message`` while ``conversation`` waits in the queue: the
    queue's cards of every inbox of the workspace count it (docs/inbox.md, "Unread counts").
    Held conversations need none: their holder follows the conversation's own channel."""
    if message.author is not Author.CUSTOMER:
        return None
    if conversation.status is not ConversationStatus.WAITING:
        return None
    frame = UnreadMessage(conversation_id=conversation.id, seq=message.seq)
    return inbox_channel(conversation.workspace_id), frame.dump()


async def publish(services: Services, conversation_id: str, event: dict[str, Any]) -> None:
    await services.backplane.publish(*conversation_event(conversation_id, event))


async def publish_message(
    services: Services, message: Message, conversation: Conversation | None = None
) -> None:
    """Publish a stored message; a customer's also as ``unread_event`` when its conversation
    waits. Writers that have the conversation pass it; for the others (a channel's file or
    keyword message) it is read by id: one query per customer message, never per inbox."""
    await services.backplane.publish(*message_event(message))
    if message.author is not Author.CUSTOMER:
        return
    if conversation is None:
        conversation = await services.store.get_conversation(message.conversation_id)
    unread = unread_event(conversation, message) if conversation is not None else None
    if unread is not None:
        await services.backplane.publish(*unread)


async def announce(
    services: Services, workspace_id: str, change: str, conversation_id: str | None = None
) -> None:
    """Tell every inbox of the workspace that something changed."""
    await services.backplane.publish(*inbox_event(workspace_id, change, conversation_id))
