"""Zendesk Support: tickets through the REST API, agent replies through signed webhooks.

Calls (Zendesk Support API, https://developer.zendesk.com/api-reference/ticketing/):

    GET  /api/v2/users/search.json?query=email:"a@b.c"  find requester  -> {"users": [...]}
    POST /api/v2/users.json     {"user": {...}}          create requester -> 201 {"user": {"id"}}
    GET  /api/v2/tickets.json?external_id=KEY            earlier create  -> {"tickets": [...]}
    POST /api/v2/tickets.json   {"ticket": {...}}        create ticket   -> 201 {"ticket": {"id"}}
    PUT  /api/v2/tickets/{id}.json {"ticket": {"comment"}} add a note    -> 200 {"ticket": {...}}

Authentication is an API token: HTTP Basic ``{email}/token:{api token}``. A 429 carries
``Retry-After`` (https://developer.zendesk.com/api-reference/introduction/rate-limits/),
which the outbox honours. The ticket's ``external_id`` is our idempotency key and the same
key goes in an ``Idempotency-Key`` header; before creating, the connector lists tickets by
``external_id``, so a retry after a lost response never makes a second ticket.

The transcript is the ticket's first comment, private (``public: false``): it is for agents.

Webhooks (https://developer.zendesk.com/documentation/webhooks/verifying/): Zendesk signs
each request with the webhook's signing secret as
``base64(HMAC-SHA256(secret, X-Zendesk-Webhook-Signature-Timestamp + raw body))`` in
``X-Zendesk-Webhook-Signature``. We also refuse timestamps outside a five-minute window,
and the signature doubles as the delivery id for replay protection. Two payload shapes are
understood: the ``zen:event-type:ticket.comment_added`` event of an event-subscribed
webhook, and the JSON body of a trigger-connected webhook written as

    {"ticket_id": "{{ticket.id}}", "body": "{{ticket.latest_public_comment}}",
     "author_name": "{{current_user.name}}", "is_public": true}

Tests replay these request and response formats against a local HTTP server
(tests/test_helpdesk_zendesk.py); that is the limit of what is testable here: no call is
ever made to a real Zendesk account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smartsupport.errors import DeliveryError, Unauthorized
from smartsupport.helpdesk.base import (
    AgentReply,
    Helpdesk,
    TicketDraft,
    TicketRef,
    TicketStatus,
    VerifiedWebhook,
    sent_in_window,
    ticket_status,
)
from smartsupport.helpdesk.http import JsonClient

SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
PRIORITIES = {"low", "normal", "high", "urgent"}


class ZendeskHelpdesk(Helpdesk):
    name = "zendesk"

    def _client(self) -> JsonClient:
        if self.api_token is None or not self.config.email:
            raise DeliveryError(
                "zendesk: set SMARTSUPPORT_HELPDESK_API_TOKEN (or api_token_env) and the "
                "helpdesk email in escalation.yaml",
                retryable=False,
            )
        user = f"{self.config.email}/token"
        return JsonClient(
            "zendesk", self.config.url, auth=(user, self.api_token.get_secret_value())
        )

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.config.url}/agent/tickets/{ticket_id}"

    async def find_ticket(self, idempotency_key: str) -> TicketRef | None:
        async with self._client() as client:
            data = await client.request(
                "GET", "/api/v2/tickets.json", params={"external_id": idempotency_key}
            )
        tickets = (data.get("tickets") or []) if isinstance(data, dict) else []
        if not tickets:
            return None
        ticket_id = str(tickets[0]["id"])
        return TicketRef(ticket_id, self.ticket_url(ticket_id))

    async def create_ticket(self, draft: TicketDraft) -> TicketRef:
        async with self._client() as client:
            ticket: dict[str, Any] = {
                "subject": draft.subject,
                "comment": {"body": draft.transcript, "public": False},
                "priority": draft.priority if draft.priority in PRIORITIES else "normal",
                "tags": _tags(draft.tags),
                "external_id": draft.idempotency_key,
            }
            if draft.requester_email:
                ticket["requester_id"] = await self._requester(client, draft)
            data = await client.request(
                "POST",
                "/api/v2/tickets.json",
                json={"ticket": ticket},
                headers={"Idempotency-Key": draft.idempotency_key},
            )
        try:
            ticket_id = str(data["ticket"]["id"])
        except (KeyError, TypeError) as exc:
            raise DeliveryError("zendesk: ticket response without an id", retryable=True) from exc
        return TicketRef(ticket_id, self.ticket_url(ticket_id))

    async def add_note(self, ticket_id: str, text: str) -> None:
        async with self._client() as client:
            await client.request(
                "PUT",
                f"/api/v2/tickets/{int(ticket_id)}.json",
                json={"ticket": {"comment": {"body": text, "public": False}}},
            )

    async def _requester(self, client: JsonClient, draft: TicketDraft) -> int:
        email = draft.requester_email
        found = await client.request(
            "GET", "/api/v2/users/search.json", params={"query": f'email:"{email}"'}
        )
        for user in found.get("users") or []:
            if str(user.get("email", "")).casefold() == str(email).casefold():
                return int(user["id"])
        created = await client.request(
            "POST",
            "/api/v2/users.json",
            json={
                "user": {
                    "name": draft.requester_name or str(email).split("@")[0],
                    "email": email,
                    "role": "end-user",
                }
            },
        )
        return int(created["user"]["id"])

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> VerifiedWebhook:
        if self.webhook_secret is None:
            raise Unauthorized("zendesk webhooks are not configured: no signing secret")
        signature = headers.get(SIGNATURE)
        timestamp = headers.get(TIMESTAMP)
        if not signature or not timestamp:
            raise Unauthorized("missing Zendesk webhook signature headers")
        try:
            fresh = sent_in_window(timestamp, now)
        except ValueError:
            raise Unauthorized("malformed Zendesk webhook timestamp") from None
        if not fresh:
            raise Unauthorized("stale Zendesk webhook timestamp")
        expected = sign(self.webhook_secret.get_secret_value(), timestamp, body)
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise Unauthorized("invalid Zendesk webhook signature")
        try:
            payload = json.loads(body)
        except ValueError:
            raise Unauthorized("the signed Zendesk webhook body is not JSON") from None
        digest = hashlib.sha256(signature.encode()).hexdigest()
        return VerifiedWebhook(delivery_id=f"sig:{digest}", payload=payload)

    def agent_replies(self, payload: Any) -> list[AgentReply]:
        if not isinstance(payload, dict):
            return []
        if payload.get("type") == COMMENT_ADDED:
            comment = (payload.get("event") or {}).get("comment") or {}
            author = comment.get("author") or {}
            ticket_id = (payload.get("detail") or {}).get("id")
            if not (comment.get("is_public") and author.get("is_staff") and ticket_id):
                return []
            text = str(comment.get("body") or "").strip()
            name = str(author.get("name") or "Support agent")
            return [AgentReply(str(ticket_id), text, name)] if text else []
        if "ticket_id" in payload and "body" in payload:
            if payload.get("is_public", True) in (False, "false"):
                return []
            text = str(payload.get("body") or "").strip()
            name = str(payload.get("author_name") or "Support agent")
            return [AgentReply(str(payload["ticket_id"]), text, name)] if text else []
        return []

    def ticket_statuses(self, payload: Any) -> list[TicketStatus]:
        """``zen:event-type:ticket.status_changed`` (``event.current``, e.g. "SOLVED"), or a
        trigger's JSON body ``{"ticket_id": "{{ticket.id}}", "status": "{{ticket.status}}"}``."""
        if not isinstance(payload, dict):
            return []
        if payload.get("type") == STATUS_CHANGED:
            ticket_id = (payload.get("detail") or {}).get("id")
            event = payload.get("event") or {}
            status = ticket_status(
                event.get("current") or (payload.get("detail") or {}).get("status")
            )
        elif "ticket_id" in payload and "status" in payload:
            ticket_id, status = payload["ticket_id"], ticket_status(payload["status"])
        else:
            return []
        return [TicketStatus(str(ticket_id), status)] if ticket_id and status else []


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's webhook signature of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _tags(tags: list[str]) -> list[str]:
    # Zendesk tags cannot contain spaces; it would split them.
    return sorted({t.strip().lower().replace(" ", "_") for t in tags if t.strip()})
