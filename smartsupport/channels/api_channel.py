"""The API channel: a business's own apps talk to the assistant for their users.

Inbound, the app posts its user's message over REST with an API key (``api_routes.py``);
outbound, every reply (the bot's or an agent's, and proactive messages) is POSTed to the
workspace's ``api_channel.webhook_url`` as a signed webhook, through the outbox:

    POST <webhook_url>
    Content-Type: application/json
    Smartsupport-Delivery: <delivery id>       the same on every retry of one delivery
    Smartsupport-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">
    {"type": "message.created", "delivery_id", "workspace_id", "conversation_id",
     "user_id", "message": {<the message as the widget sees it: wire.MessageOut>,
                            "rateable": <a knowledge answer the app may let its user rate>}}

A 2xx is delivered; 408/429/5xx and network failures are retried with the outbox's
exponential backoff (never sooner than Retry-After) until ``outbox_max_age_hours``; other
4xx are dead letters an admin can requeue. The receiver protects itself from replays by
refusing a timestamp older than its tolerance (5 minutes) and a delivery id it has already
processed (``verify_webhook`` is that check, for receivers written in Python; docs/channels.md
shows it in a few lines of any language). Deliveries are at least once: a 2xx lost on the
way back is sent again with the same delivery id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from smartsupport.channels import contacts, thumbs
from smartsupport.channels.base import Channel
from smartsupport.channels.messaging_config import api_channel_config
from smartsupport.domain import Author, Conversation, IncomingMessage, Message, OutboxItem
from smartsupport.errors import ConfigurationError, DeliveryError, InvalidInput, Unauthorized
from smartsupport.helpdesk.http import JsonClient
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor
from smartsupport.wire import message_json

SEND_KIND = "api.webhook"
SIGNATURE_HEADER = "Smartsupport-Signature"
DELIVERY_HEADER = "Smartsupport-Delivery"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_webhook(
    secret: str, header: str | None, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> int:
    """What a receiver checks: the signature over exactly these bytes, made at most
    ``tolerance`` seconds ago. Returns the timestamp; raises Unauthorized. (The receiver
    also remembers delivery ids for longer than ``tolerance`` and refuses one seen before.)"""
    fields = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        raise Unauthorized("no signature timestamp") from None
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        raise Unauthorized("the signature is too old (a replay?)")
    if not hmac.compare_digest(
        sign(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}"
    ):
        raise Unauthorized("the signature does not match")
    return timestamp


class ApiChannel(Channel):
    name = "api"

    def parse(self, conversation_id: str, payload: Mapping[str, Any]) -> list[IncomingMessage]:
        text, message_id = payload.get("text"), payload.get("message_id")
        if not isinstance(text, str) or not isinstance(message_id, str):
            raise InvalidInput("an API channel message needs text and message_id")
        return [
            IncomingMessage(
                conversation_id=conversation_id,
                text=text,
                client_id=f"api:{message_id}",
                channel=self.name,
            )
        ]

    def render(self, message: Message) -> dict[str, Any]:
        # "rateable": the answers the app may show thumbs under and pass on to
        # POST .../messages/{id}/feedback (api_routes.py), the same answers as on every channel.
        return {**message_json(message), "rateable": thumbs.rateable(message)}

    def deliveries(
        self, conversation: Conversation, messages: Sequence[Message]
    ) -> list[OutboxItem]:
        return [
            OutboxItem(
                kind=SEND_KIND,
                idempotency_key=f"{SEND_KIND}:{message.id}",
                payload={
                    "conversation_id": conversation.id,
                    "message": self.render(message),
                    "compliance": bool(message.meta.get("compliance")),
                },
            )
            for message in messages
            if message.author in (Author.BOT, Author.AGENT, Author.SYSTEM)
        ]

    async def deliver(self, services: Services, entry: Any) -> dict[str, Any]:
        payload = entry.payload
        try:
            config = api_channel_config(services.workspace(entry.workspace_id))
        except ConfigurationError as exc:
            raise DeliveryError(str(exc), retryable=True) from exc
        if config is None:
            raise DeliveryError(
                "api channel: the workspace has no api_channel section", retryable=True
            )
        db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
        contact = await contacts.for_conversation(db, payload["conversation_id"])
        if contact is None:
            raise DeliveryError("api channel: the conversation has no API user")
        if contact.opted_out and not payload.get("compliance"):
            return {"skipped": "opted_out"}
        delivery_id = entry.idempotency_key
        body = json.dumps(
            {
                "type": "message.created",
                "delivery_id": delivery_id,
                "workspace_id": entry.workspace_id,
                "conversation_id": payload["conversation_id"],
                "user_id": contact.address,
                "message": payload["message"],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        # Signed at each attempt: a retry an hour later still passes the receiver's window.
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery_id,
            SIGNATURE_HEADER: sign(config.secret.get_secret_value(), int(time.time()), body),
        }
        # The whole URL per request: a base URL would gain a trailing slash.
        async with JsonClient("api channel", "", secret_url=True) as client:
            await client.request(
                "POST", config.webhook_url, content=body, headers=headers, expect_json=False
            )
        return {"delivery_id": delivery_id}
