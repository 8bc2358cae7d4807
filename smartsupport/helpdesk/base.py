"""What every helpdesk connector does: create tickets idempotently, and turn the
helpdesk's webhooks into verified agent replies.

One module per helpdesk (``zendesk.py``, ``freshdesk.py``), chosen by the ``provider`` name
of a workspace's ``escalation.yaml`` through the table in ``helpdesk/__init__.py``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from smartsupport.handoff.config import HelpdeskConfig

WEBHOOK_WINDOW_SECONDS = 300  # a signed webhook older (or newer) than this is refused


def sent_in_window(sent_at: str, now: datetime) -> bool:
    """Whether a webhook's ISO 8601 send time (a trailing ``Z`` allowed, as both helpdesks
    send it) lies within ``WEBHOOK_WINDOW_SECONDS`` of ``now``. One rule for every connector's
    replay window: a time without a zone never passes. ValueError if it is not a time."""
    sent = datetime.fromisoformat(sent_at.replace("Z", "+00:00"))
    return sent.tzinfo is not None and abs((now - sent).total_seconds()) <= WEBHOOK_WINDOW_SECONDS


@dataclass(slots=True)
class TicketDraft:
    """A ticket to create. ``idempotency_key`` is stored on the ticket (Zendesk
    ``external_id``, a Freshdesk tag) so a retried create finds it instead of duplicating."""

    idempotency_key: str
    subject: str
    transcript: str  # plain text; connectors escape it for HTML fields
    requester_email: str | None = None
    requester_name: str | None = None
    tags: list[str] = field(default_factory=list)
    priority: str = "normal"  # low | normal | high | urgent


@dataclass(slots=True)
class TicketRef:
    external_id: str
    url: str | None = None


@dataclass(slots=True)
class AgentReply:
    """A public reply an agent wrote on a ticket, parsed from a verified webhook."""

    ticket_id: str
    text: str
    author_name: str


@dataclass(slots=True)
class TicketStatus:
    """A ticket's new status, parsed from a verified webhook: ``open``, ``pending``,
    ``on_hold``, ``solved`` or ``closed`` (each helpdesk's names mapped to these)."""

    ticket_id: str
    status: str


TICKET_STATUSES = {"new": "open", "open": "open", "pending": "pending", "hold": "on_hold"}
TICKET_STATUSES |= {"on-hold": "on_hold", "on hold": "on_hold", "on_hold": "on_hold"}
TICKET_STATUSES |= {"solved": "solved", "resolved": "solved", "closed": "closed"}


def ticket_status(value: object) -> str | None:
    """One of our ticket statuses for a helpdesk's status name (any case), or None."""
    return TICKET_STATUSES.get(str(value or "").strip().casefold())


@dataclass(slots=True)
class VerifiedWebhook:
    """A webhook whose signature or secret checked out. ``delivery_id`` identifies this
    delivery for replay protection (a replay carries the same id)."""

    delivery_id: str
    payload: Any


class Helpdesk(abc.ABC):
    name: str

    def __init__(
        self,
        config: HelpdeskConfig,
        *,
        api_token: SecretStr | None,
        webhook_secret: SecretStr | None,
    ) -> None:
        self.config = config
        self.api_token = api_token
        self.webhook_secret = webhook_secret

    @abc.abstractmethod
    async def find_ticket(self, idempotency_key: str) -> TicketRef | None:
        """The ticket created earlier under this key, or None. Raises DeliveryError."""

    @abc.abstractmethod
    async def create_ticket(self, draft: TicketDraft) -> TicketRef:
        """Find or create the requester by email, then create the ticket with the
        transcript, tags and priority. Raises DeliveryError (``retryable`` says whether
        the outbox should try again)."""

    @abc.abstractmethod
    async def add_note(self, ticket_id: str, text: str) -> None:
        """Add a private note to the ticket (what the customer wrote in the chat after the
        ticket was created). Raises DeliveryError."""

    @abc.abstractmethod
    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> VerifiedWebhook:
        """Check the signature or shared secret and the timestamp window; raise
        Unauthorized for anything forged, unsigned or stale. Pure: no I/O."""

    @abc.abstractmethod
    def agent_replies(self, payload: Any) -> list[AgentReply]:
        """The public agent replies a verified payload carries (none for private notes,
        other events or the ticket's first, internal, comment)."""

    def ticket_statuses(self, payload: Any) -> list[TicketStatus]:
        """The ticket status changes a verified payload carries (none by default)."""
        return []

    async def aclose(self) -> None:
        return None
