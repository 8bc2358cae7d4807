"""A ticket's status in the helpdesk flows back to its conversation (the webhooks call this).

    open, pending, on_hold   recorded on the conversation (``metadata.ticket.status``), the
                             inbox card shows it; the conversation's own status is left
    solved, closed           recorded, and the conversation is resolved (the widget shows
                             "resolved" and asks for a rating) unless an agent is holding it
                             live in the inbox: a person there decides, not the helpdesk

Every change is an event (``ticket.status``) on the conversation. The same status delivered
again changes nothing.
"""

from __future__ import annotations

from smartsupport.conversation import set_status
from smartsupport.domain import ConversationStatus
from smartsupport.fanout import announce
from smartsupport.services import Services

CLOSING = ("solved", "closed")


async def apply_ticket_status(
    services: Services, conversation_id: str, provider: str, ticket_id: str, status: str
) -> bool:
    """Record ``status`` on the conversation (see module docstring); False when it was
    already recorded or the conversation is gone."""
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        return False
    ticket = dict(conversation.metadata.get("ticket") or {})
    if ticket.get("status") == status:
        return False
    ticket.update({"provider": provider, "id": ticket_id, "status": status})
    await services.store.update_conversation_metadata(conversation_id, {"ticket": ticket})
    await services.store.add_event(
        conversation.workspace_id,
        "ticket.status",
        {"provider": provider, "ticket_id": ticket_id, "status": status},
        conversation_id=conversation_id,
    )
    live = conversation.status in (ConversationStatus.WITH_AGENT, ConversationStatus.RESOLVED)
    if status in CLOSING and not live:
        await set_status(
            services, conversation_id, ConversationStatus.RESOLVED, f"ticket {status} in {provider}"
        )
    else:
        await announce(services, conversation.workspace_id, "ticket", conversation_id)
    return True
