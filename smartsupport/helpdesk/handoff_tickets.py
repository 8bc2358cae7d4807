"""The helpdesk work a customer turn asks for, as data in its Decision (pure: no I/O).

    ticket_on_handoff: true      a conversation handed to the inbox in this turn also gets a
                                 helpdesk ticket ("ticket.create", one per conversation)
    batch_low_confidence         a turn on which a ``low_confidence`` rule fired joins the
        enabled: true            window's batch ticket ("ticket.batch_join" -> the batch
                                 table and one "ticket.batch" due when the window closes)

Both are outbox items the turn's record writes with the customer's message in one
transaction, so a turn that fails to store queues no ticket, and a retried turn none twice
(the items' keys are idempotent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smartsupport.domain import ConversationStatus, OutboxItem, utcnow
from smartsupport.handoff.config import for_workspace
from smartsupport.handoff.rules import HandoffOutcome
from smartsupport.helpdesk.tickets import batch_window
from smartsupport.turn import Decision, Turn

TICKET_KEY = "helpdesk_ticket"  # conversation metadata: the ticket's outbox key


def add_helpdesk_work(
    turn: Turn,
    outcome: HandoffOutcome | None,
    decision: Decision,
    *,
    now: datetime | None = None,
) -> Decision:
    """Add to ``decision`` the tickets its handoff asks for (returned, changed in place)."""
    helpdesk = for_workspace(turn.workspace).helpdesk
    if helpdesk is None:
        return decision
    conversation = turn.conversation
    payload: dict[str, Any] = {
        "conversation_id": conversation.id,
        "reason": (decision.reason or (outcome.reason if outcome else "") or "handoff")[:500],
        "email": None,
        "name": None,
        "question": None,
        "priority": decision.metadata.get("priority")
        or conversation.metadata.get("priority")
        or "normal",
    }
    handed_over = (
        decision.status is ConversationStatus.WAITING
        and conversation.status is not ConversationStatus.WAITING
    )
    if helpdesk.ticket_on_handoff and handed_over and not conversation.metadata.get(TICKET_KEY):
        key = f"ticket:{conversation.id}"
        decision.outbox.append(OutboxItem("ticket.create", payload, key))
        decision.metadata[TICKET_KEY] = key
        decision.events.append(
            ("ticket.requested", {"reason": payload["reason"], "to": "helpdesk"})
        )
    unsure = outcome is not None and any(f.type == "low_confidence" for f in outcome.firings)
    if unsure and helpdesk.batch_low_confidence.enabled:
        batch_key, due = batch_window(
            conversation.workspace_id, helpdesk.batch_low_confidence.window_minutes, now or utcnow()
        )
        join = {"batch_key": batch_key, "due": due.isoformat(), "ticket": payload}
        key = f"join:{batch_key}:{conversation.id}"
        decision.outbox.append(OutboxItem("ticket.batch_join", join, key))
        decision.events.append(("ticket.batched", {"batch_key": batch_key}))
    return decision
