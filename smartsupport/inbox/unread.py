"""Unread counts, live: the queue's cards and "My conversations" follow what the customer
writes and what the agent reads without reloading the lists (docs/inbox.md, "Unread counts").

The counts start from the lists (``queue.waiting`` and ``InboxStore.held_rows`` count the
customer's messages after each agent's read mark, and give the conversation's ``last_seq``
the count includes). From then on the inbox script changes them from frames alone:

- ``unread`` (``frames.UnreadMessage``): a customer's message in a waiting conversation,
  published on the workspace's inbox channel by whoever stored it (``fanout.unread_event``:
  the conversation path, a channel's file or keyword message, the contact form). Every agent
  socket of the workspace forwards it as published, so no inbox runs a query for it; the
  script counts it once (by ``seq``) on the card it shows, so team queues stay the lists'
  business. A held conversation's messages reach its holder on the conversation's channel.
- ``read`` (``frames.ReadMark``): ``mark_read`` below, published on the same channel after
  the mark is stored; the sockets forward it only to the agent who read (``for_agent``), so
  the agent's other tabs and devices drop the count and nobody else's does.

Both channels go through the backplane, so this works across replicas.
"""

from __future__ import annotations

from typing import Any

from smartsupport.frames import ReadMark
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.store import InboxStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser
from smartsupport.wire import inbox_channel


async def mark_read(services: Services, user: StaffUser, conversation_id: str, seq: int) -> int:
    """``user`` has read the conversation up to ``seq`` (never past what was said); returns
    the mark kept, which only moves forward, and tells the user's open inboxes."""
    conversation = await load_for(services, user, conversation_id)
    seq = min(seq, conversation.last_seq)
    kept = await InboxStore(services.store).mark_read(user.id, conversation_id, seq)
    frame = ReadMark(conversation_id=conversation_id, agent_id=user.id, seq=kept)
    await services.backplane.publish(inbox_channel(conversation.workspace_id), frame.dump())
    return kept


def for_agent(event: dict[str, Any], staff_id: str) -> bool:
    """Whether an event of the inbox channel goes to ``staff_id``'s socket: everything but
    another agent's read marks (unread is per reader)."""
    return event.get("type") != "read" or event.get("agent_id") == staff_id
