"""The one place that owns a conversation's lock and what is published about it.

    conversation_lock(services, id)   one turn or change at a time, across processes; every
                                      writer of a conversation (customer turns, agents,
                                      helpdesk webhooks, timers) takes it
    publish(services, id, event)      every open widget and agent view of the conversation
    publish_message(services, m)      a stored message, as the widget shows it
    announce(services, ws, change)    every agent inbox of the workspace refreshes its queue

Channel names and message shapes come from ``wire``; this module adds the services.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from smartsupport.backplane.base import Held
from smartsupport.domain import Message
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


async def publish(services: Services, conversation_id: str, event: dict[str, Any]) -> None:
    await services.backplane.publish(*conversation_event(conversation_id, event))


async def publish_message(services: Services, message: Message) -> None:
    await services.backplane.publish(*message_event(message))


async def announce(
    services: Services, workspace_id: str, change: str, conversation_id: str | None = None
) -> None:
    """Tell every inbox of the workspace that something changed."""
    await services.backplane.publish(*inbox_event(workspace_id, change, conversation_id))
