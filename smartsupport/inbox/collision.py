"""Collision warnings: staff see when someone else is typing in the conversation they have
open, so two people do not answer the same customer at once.

The inbox script sends ``{"type": "typing", "conversation_id", "on", "where"}`` on the agent
socket while its user types a reply or a private note (at most every 3 s, and ``on: false``
after 4 s without a key). Besides the customer's "agent is typing" (the holder's reply only,
``takeover.agent_typing``), each such frame is published on the workspace's inbox channel as
an ``agent_typing`` frame (``frames.AgentTypingPresence``). The channel goes through the
backplane, so agents connected to different replicas see each other; every agent socket of
the workspace forwards it and the script shows it only on the conversation on screen, and
never to the person typing.
"""

from __future__ import annotations

from typing import Literal

from smartsupport.frames import AgentTypingPresence
from smartsupport.inbox.changes import load_for
from smartsupport.services import Services
from smartsupport.staff import StaffUser
from smartsupport.wire import inbox_channel


async def announce_typing(
    services: Services,
    user: StaffUser,
    conversation_id: str,
    on: bool,
    where: Literal["reply", "note"],
) -> None:
    """Tell the workspace's inboxes that ``user`` is (or stopped) typing in the conversation;
    only someone who may see the conversation can announce it (404/403 otherwise)."""
    conversation = await load_for(services, user, conversation_id)
    frame = AgentTypingPresence(
        conversation_id=conversation_id,
        agent_id=user.id,
        agent_name=user.name,
        on=on,
        where=where,
    )
    await services.backplane.publish(inbox_channel(conversation.workspace_id), frame.dump())
