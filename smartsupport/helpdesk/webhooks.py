"""Incoming helpdesk webhooks: an agent's public reply on a ticket reaches the customer, and
the ticket's status reaches the conversation (solved or closed resolves it).

    POST /api/v1/webhooks/zendesk/{workspace}
    POST /api/v1/webhooks/freshdesk/{workspace}

    oversized body                        413
    unknown workspace / no such helpdesk  404
    forged, unsigned, stale               401   (the connector's ``verify_webhook``)
    a delivery id seen before (replay)    409   (``webhook_receipts``)
    ticket not made by us                 202   ignored
    delivered                             200   {"delivered": n}
    our store failing                     503   the receipt is withdrawn so the helpdesk's
                                                own retry is accepted later

Every failure is a clear 4xx/503 body, never a 500: a webhook endpoint faces the internet.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import error_response, errors
from smartsupport.domain import utcnow
from smartsupport.errors import BackendError, ConfigurationError, RequestError, Unauthorized
from smartsupport.handoff.config import for_workspace
from smartsupport.helpdesk import open_helpdesk
from smartsupport.helpdesk.base import Helpdesk
from smartsupport.helpdesk.delivery import deliver_agent_message
from smartsupport.helpdesk.ticket_status import apply_ticket_status
from smartsupport.helpdesk.tickets import conversations_for_ticket
from smartsupport.services import Services

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
RECEIPT_RETENTION = timedelta(days=7)

router = APIRouter(prefix="/api/v1/webhooks", tags=["helpdesk webhooks"])


class DeliveredOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivered: int = Field(description="Agent replies passed on to customers.")
    statuses: int = Field(
        default=0,
        description="Ticket status changes recorded on conversations (solved or "
        "closed resolves the conversation: helpdesk/ticket_status.py).",
    )


class IgnoredOut(BaseModel):
    """Nothing to pass on: no public agent reply, or a ticket not made by us."""

    model_config = ConfigDict(extra="forbid")
    delivered: int
    ignored: bool
    known_ticket: bool = Field(description="The ticket belongs to one of our conversations.")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status)


@router.post(
    "/{provider}/{workspace_id}",
    operation_id="receiveHelpdeskWebhook",
    response_model=None,
    responses={
        200: {"model": DeliveredOut},
        202: {"model": IgnoredOut, "description": "Accepted, nothing to deliver."},
        401: error_response(401, "Forged, unsigned or stale (the provider's signature)."),
        409: error_response(409, "This delivery id was received before (a replay)."),
        **errors(404, 413, 422),
        # The helpdesk retries on its own schedule: no Retry-After here.
        503: {k: v for k, v in error_response(503).items() if k != "headers"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The provider's webhook payload, signed as the provider does.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def helpdesk_webhook(
    provider: Literal["zendesk", "freshdesk"], workspace_id: str, request: Request
) -> JSONResponse:
    """Receive a Zendesk or Freshdesk webhook for one workspace (see module docstring)."""
    services: Services = request.app.state.services
    try:
        return await _receive(services, provider, workspace_id, request)
    except RequestError as exc:
        return _error(exc.status_code, exc.code, exc.message)
    except (BackendError, ConfigurationError) as exc:
        log.warning("helpdesk webhook %s/%s not processed: %s", provider, workspace_id, exc)
        return _error(503, "unavailable", "try again later")
    except Exception:  # noqa: BLE001 - an internet-facing endpoint answers, never crashes
        log.exception("helpdesk webhook %s/%s failed", provider, workspace_id)
        return _error(503, "unavailable", "try again later")


async def _receive(
    services: Services, provider: str, workspace_id: str, request: Request
) -> JSONResponse:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        return _error(413, "too_large", "webhook body too large")
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "too_large", "webhook body too large")
    if workspace_id not in services.workspaces:
        return _error(404, "not_found", "unknown workspace")
    config = for_workspace(services.workspace(workspace_id)).helpdesk
    if config is None or config.provider != provider:
        return _error(404, "not_found", f"no {provider} helpdesk in this workspace")
    helpdesk: Helpdesk = open_helpdesk(services, workspace_id)
    now = utcnow()
    try:
        verified = helpdesk.verify_webhook(request.headers, body, now)
    except Unauthorized as exc:
        log.warning("refused %s webhook for %s: %s", provider, workspace_id, exc.message)
        return _error(401, "unauthorized", exc.message)
    if not await _first_receipt(services, provider, workspace_id, verified.delivery_id, now):
        return _error(409, "replayed", "this webhook delivery was already received")
    try:
        delivered = 0
        known_ticket = False
        for reply in helpdesk.agent_replies(verified.payload):
            conversations = await conversations_for_ticket(
                services, workspace_id, provider, reply.ticket_id
            )
            known_ticket = known_ticket or bool(conversations)
            for conversation_id in conversations:
                await deliver_agent_message(
                    services, conversation_id, reply.text, reply.author_name, source=provider
                )
                delivered += 1
        statuses = 0
        for change in helpdesk.ticket_statuses(verified.payload):
            conversations = await conversations_for_ticket(
                services, workspace_id, provider, change.ticket_id
            )
            known_ticket = known_ticket or bool(conversations)
            for conversation_id in conversations:
                statuses += await apply_ticket_status(
                    services, conversation_id, provider, change.ticket_id, change.status
                )
    except BaseException:
        # Withdraw the receipt so the helpdesk's retry of this delivery is accepted.
        await services.store.execute(  # type: ignore[attr-defined]
            "DELETE FROM webhook_receipts WHERE provider = ? AND workspace_id = ? "
            "AND delivery_id = ?",
            provider,
            workspace_id,
            verified.delivery_id,
        )
        raise
    if not delivered and not statuses:
        return JSONResponse({"delivered": 0, "ignored": True, "known_ticket": known_ticket}, 202)
    if not statuses:
        return JSONResponse({"delivered": delivered}, 200)
    return JSONResponse({"delivered": delivered, "statuses": statuses}, 200)


async def _first_receipt(
    services: Services, provider: str, workspace_id: str, delivery_id: str, now: datetime
) -> bool:
    db = services.store
    added = await db.execute(  # type: ignore[attr-defined]
        "INSERT INTO webhook_receipts (provider, workspace_id, delivery_id, received_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (provider, workspace_id, delivery_id) DO NOTHING",
        provider,
        workspace_id,
        delivery_id,
        now,
    )
    if added:
        # Old receipts can go: a delivery that old is refused by its timestamp window (Zendesk)
        # or is long settled; this keeps the table small without a separate job.
        await db.execute(  # type: ignore[attr-defined]
            "DELETE FROM webhook_receipts WHERE received_at < ?", now - RECEIPT_RETENTION
        )
    return bool(added)
