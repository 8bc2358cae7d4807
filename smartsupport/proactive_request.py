"""What a scheduled proactive message is, as outbox work: its kind, its idempotency key and
its payload. Kept apart from ``proactive.py`` (the handler, which sends) so that both writers
build the same row: the API through ``proactive.schedule``, and a flow's ``schedule_message``
step, whose item travels in the turn's ``Decision`` and is written with the turn
(``dialogue/scheduling.py``). One key, one message, whichever wrote it first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smartsupport.domain import OutboxItem, utcnow

KIND = "proactive.send"
# The channels a proactive message can go out on: those with a customer address and its
# consent (channels/contacts.py), and the web widget, which has neither: its message is
# stored and shown live, or in the history when the customer comes back.
CHANNELS = ("whatsapp", "sms", "twilio_whatsapp", "api")
ADDRESSLESS = ("web",)


@dataclass(slots=True)
class ProactiveRequest:
    key: str  # the caller's idempotency key: the same key schedules one message
    text: str
    send_at: datetime | None = None
    template: dict[str, Any] | None = None  # WhatsApp: {name, language, parameters}
    require_opt_in: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def idempotency_key(workspace_id: str, key: str) -> str:
    return f"{KIND}:{workspace_id}:{key}"


def outbox_item(
    workspace_id: str,
    conversation_id: str,
    request: ProactiveRequest,
    *,
    now: datetime | None = None,
) -> OutboxItem:
    """The ``proactive.send`` row, due at ``send_at`` (now when it is left out or past). The
    store dates a row due later from its due time, so the outbox's give-up rule and its age
    metric count from then, not from when it was scheduled."""
    now = now or utcnow()
    due = max(request.send_at or now, now)
    return OutboxItem(
        kind=KIND,
        idempotency_key=idempotency_key(workspace_id, request.key),
        payload={
            "conversation_id": conversation_id,
            "text": request.text,
            "template": request.template,
            "require_opt_in": request.require_opt_in,
            "key": request.key,
            **request.extra,
        },
        not_before=due,
    )
