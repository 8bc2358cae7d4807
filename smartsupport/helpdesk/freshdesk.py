"""Freshdesk: tickets through the v2 REST API, agent replies through automation webhooks.

Calls (Freshdesk API v2, https://developers.freshdesk.com/api/):

    GET  /api/v2/contacts?email=a@b.c                    find the requester    -> [ {...} ]
    POST /api/v2/contacts           {"name", "email"}    create the requester  -> 201 {"id"}
    GET  /api/v2/search/tickets?query="tag:'ss-...'"     find an earlier create
                                                          -> {"results": [...], "total": n}
    POST /api/v2/tickets            {...}                create the ticket     -> 201 {"id"}
    POST /api/v2/tickets/{id}/notes {"body", "private"}  add a note            -> 201 {"id"}

Authentication is HTTP Basic with the API key as user name and ``X`` as password. Ticket
fields: ``description`` is HTML (the transcript is escaped), ``priority`` 1 low .. 4 urgent,
``status`` 2 open, ``source`` 7 chat, ``tags``. Freshdesk tickets have no external-id field,
so the idempotency key becomes a tag ``ss-<hash>`` that the connector searches before
creating. Freshdesk's search index can lag a create by a little; a retry that races it is
the one window in which a duplicate is possible, and retries are spaced by backoff.

Webhooks: Freshdesk automation rules call a webhook ("Trigger webhook" action,
https://support.freshdesk.com/support/solutions/articles/132589-using-webhooks-in-automation-rules)
and do not sign the request. What an admin can configure is authentication (user name and
password, or an API key, sent as HTTP Basic) and custom headers. So the scheme here is a
shared secret: the rule sends ``SMARTSUPPORT_HELPDESK_WEBHOOK_SECRET`` either as the Basic
password or in an ``X-Smartsupport-Webhook-Secret`` header, compared in constant time. The
body is the rule's JSON content:

    {"ticket_id": "{{ticket.id}}", "body": "{{ticket.latest_public_comment}}",
     "author_name": "{{ticket.agent.name}}", "sent_at": "{{ticket.updated_on}}"}

(the default ``{"freshdesk_webhook": {"ticket_id", "ticket_latest_public_comment"}}`` shape
is accepted too). With no signed timestamp, replay protection is a hash of the body kept as
a seen delivery id, plus the optional ``sent_at`` window.

Tests replay these request and response formats against a local HTTP server
(tests/test_helpdesk_freshdesk.py); that is the limit of what is testable here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
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

SECRET_HEADER = "x-smartsupport-webhook-secret"
PRIORITIES = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
STATUS_OPEN = 2
SOURCE_CHAT = 7


def key_tag(idempotency_key: str) -> str:
    """The tag that carries an idempotency key (Freshdesk tags are short)."""
    return "ss-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]


class FreshdeskHelpdesk(Helpdesk):
    name = "freshdesk"

    def _client(self) -> JsonClient:
        if self.api_token is None:
            raise DeliveryError(
                "freshdesk: set SMARTSUPPORT_HELPDESK_API_TOKEN (or api_token_env)",
                retryable=False,
            )
        return JsonClient(
            "freshdesk", self.config.url, auth=(self.api_token.get_secret_value(), "X")
        )

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.config.url}/a/tickets/{ticket_id}"

    async def find_ticket(self, idempotency_key: str) -> TicketRef | None:
        async with self._client() as client:
            data = await client.request(
                "GET",
                "/api/v2/search/tickets",
                params={"query": f"\"tag:'{key_tag(idempotency_key)}'\""},
            )
        results = data.get("results") if isinstance(data, dict) else None
        if not results:
            return None
        ticket_id = str(results[0]["id"])
        return TicketRef(ticket_id, self.ticket_url(ticket_id))

    async def create_ticket(self, draft: TicketDraft) -> TicketRef:
        async with self._client() as client:
            ticket: dict[str, Any] = {
                "subject": draft.subject,
                "description": _html(draft.transcript),
                "priority": PRIORITIES.get(draft.priority, 2),
                "status": STATUS_OPEN,
                "source": SOURCE_CHAT,
                "tags": sorted(
                    {t for t in draft.tags if t.strip()} | {key_tag(draft.idempotency_key)}
                ),
            }
            if draft.requester_email:
                ticket["requester_id"] = await self._requester(client, draft)
            else:
                # Freshdesk needs a requester; an anonymous chat gets a placeholder address.
                ticket["email"] = f"anonymous+{key_tag(draft.idempotency_key)}@invalid.example"
            data = await client.request("POST", "/api/v2/tickets", json=ticket)
        try:
            ticket_id = str(data["id"])
        except (KeyError, TypeError) as exc:
            raise DeliveryError("freshdesk: ticket response without an id", retryable=True) from exc
        return TicketRef(ticket_id, self.ticket_url(ticket_id))

    async def add_note(self, ticket_id: str, text: str) -> None:
        async with self._client() as client:
            await client.request(
                "POST",
                f"/api/v2/tickets/{int(ticket_id)}/notes",
                json={"body": _html(text), "private": True},
            )

    async def _requester(self, client: JsonClient, draft: TicketDraft) -> int:
        email = str(draft.requester_email)
        found = await client.request("GET", "/api/v2/contacts", params={"email": email})
        for contact in found if isinstance(found, list) else []:
            if str(contact.get("email", "")).casefold() == email.casefold():
                return int(contact["id"])
        created = await client.request(
            "POST",
            "/api/v2/contacts",
            json={"name": draft.requester_name or email.split("@")[0], "email": email},
        )
        return int(created["id"])

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> VerifiedWebhook:
        if self.webhook_secret is None:
            raise Unauthorized("freshdesk webhooks are not configured: no shared secret")
        secret = self.webhook_secret.get_secret_value().encode()
        offered = headers.get(SECRET_HEADER, "").encode() or _basic_password(
            headers.get("authorization", "")
        )
        if not offered or not hmac.compare_digest(offered, secret):
            raise Unauthorized("invalid Freshdesk webhook secret")
        try:
            payload = json.loads(body)
        except ValueError:
            raise Unauthorized("the Freshdesk webhook body is not JSON") from None
        fields = _fields(payload)
        sent_at = fields.get("sent_at")
        if sent_at:
            try:
                fresh = sent_in_window(str(sent_at), now)
            except ValueError:
                raise Unauthorized("malformed sent_at in the Freshdesk webhook") from None
            if not fresh:
                raise Unauthorized("stale Freshdesk webhook (sent_at outside the window)")
        digest = hashlib.sha256(body).hexdigest()
        return VerifiedWebhook(delivery_id=f"body:{digest}", payload=payload)

    def agent_replies(self, payload: Any) -> list[AgentReply]:
        fields = _fields(payload)
        ticket_id = fields.get("ticket_id")
        text = fields.get("body") or fields.get("ticket_latest_public_comment") or ""
        text = _text(str(text))
        if not ticket_id or not text:
            return []
        name = str(fields.get("author_name") or fields.get("ticket_agent_name") or "Support agent")
        return [AgentReply(str(ticket_id), text, name)]

    def ticket_statuses(self, payload: Any) -> list[TicketStatus]:
        """An automation rule's ``"status": "{{ticket.status}}"`` (a name such as
        "Resolved", or the API's number: 2 open, 3 pending, 4 resolved, 5 closed)."""
        fields = _fields(payload)
        ticket_id = fields.get("ticket_id")
        raw = fields.get("status", fields.get("ticket_status"))
        status = STATUS_NUMBERS.get(str(raw).strip()) or ticket_status(raw)
        return [TicketStatus(str(ticket_id), status)] if ticket_id and status else []


STATUS_NUMBERS = {"2": "open", "3": "pending", "4": "solved", "5": "closed"}


def _fields(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        return {}
    inner = payload.get("freshdesk_webhook")
    return inner if isinstance(inner, dict) else payload


def _basic_password(header: str) -> bytes:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return b""
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except ValueError:
        return b""
    return decoded.partition(b":")[2]


def _html(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.splitlines()) or "&nbsp;"


def _text(value: str) -> str:
    """Freshdesk placeholders render HTML; the customer sees plain text."""
    value = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", value)
    value = re.sub(r"<[^>]+>", "", value)
    return html.unescape(value).strip()
