"""The WhatsApp Cloud API webhook of a workspace (Meta calls it; docs/channels.md):

    GET  /api/v1/channels/whatsapp/{workspace}   the verification handshake: hub.challenge
                                                 back when hub.verify_token is ours, else 403
    POST /api/v1/channels/whatsapp/{workspace}   messages and delivery statuses

    unknown workspace / no whatsapp section   404
    forged or missing X-Hub-Signature-256     401, nothing read or stored
    not JSON / not a WhatsApp webhook shape   400 / 422 and a log line
    our store failing                         503: Meta retries, and the provider message
                                              id (client_id) keeps a retry from answering twice
    a thumbs button pressed                   the answer's rating (thumbs_inbound), no turn
    received                                  200 {"received", "duplicates", "statuses"}

Every failure is a 4xx or 503 with the error envelope, never a 500.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import error_response, errors
from smartsupport.channels import thumbs, thumbs_inbound, whatsapp_graph
from smartsupport.channels.messaging_config import WhatsAppConfig, whatsapp_config
from smartsupport.channels.messaging_inbound import receive, record_status
from smartsupport.channels.whatsapp import WhatsAppChannel, inbound_events
from smartsupport.errors import (
    BackendError,
    ConfigurationError,
    InvalidInput,
    NotFound,
    RequestError,
)
from smartsupport.services import Services

log = logging.getLogger(__name__)
CHANNEL = WhatsAppChannel()
MAX_BODY = 1024 * 1024  # Meta batches up to 1000 updates per POST; text only, no media bytes

router = APIRouter(prefix="/api/v1/channels", tags=["messaging channels"])


class WebhookReceived(BaseModel):
    model_config = ConfigDict(extra="forbid")
    received: int = Field(description="Customer messages stored (and answered).")
    duplicates: int = Field(description="Messages received before (a provider retry).")
    statuses: int = Field(description="Delivery statuses recorded.")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status)


def _config(services: Services, workspace_id: str) -> WhatsAppConfig:
    if workspace_id not in services.workspaces:
        raise NotFound("unknown workspace")
    config = whatsapp_config(services.workspace(workspace_id))
    if config is None:
        raise NotFound("no WhatsApp channel in this workspace")
    return config


@router.get("/whatsapp/{workspace_id}", include_in_schema=False)
async def whatsapp_handshake(workspace_id: str, request: Request) -> Response:
    """Meta's verification request when the callback URL is saved in the App Dashboard."""
    try:
        config = _config(request.app.state.services, workspace_id)
    except NotFound as exc:
        return _error(404, "not_found", exc.message)
    query = request.query_params
    token, challenge = query.get("hub.verify_token", ""), query.get("hub.challenge", "")
    expected = config.verify_token.get_secret_value()
    if query.get("hub.mode") == "subscribe" and challenge and hmac.compare_digest(token, expected):
        return PlainTextResponse(challenge)
    log.warning("WhatsApp verification for %s refused: wrong verify token", workspace_id)
    return _error(403, "forbidden", "the verify token does not match")


@router.post(
    "/whatsapp/{workspace_id}",
    operation_id="receiveWhatsAppWebhook",
    response_model=None,
    responses={
        200: {"model": WebhookReceived},
        401: error_response(401, "Forged or missing X-Hub-Signature-256."),
        **errors(400, 404, 413, 422),
        503: {k: v for k, v in error_response(503).items() if k != "headers"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Meta's webhook payload, signed with the app secret.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def whatsapp_webhook(workspace_id: str, request: Request) -> JSONResponse:
    """Customer messages and delivery statuses from the WhatsApp Cloud API."""
    services: Services = request.app.state.services
    try:
        return await _receive(services, workspace_id, request)
    except RequestError as exc:
        log.warning("WhatsApp webhook for %s refused: %s", workspace_id, exc.message)
        return _error(exc.status_code, exc.code, exc.message)
    except (BackendError, ConfigurationError) as exc:
        log.warning("WhatsApp webhook for %s not processed: %s", workspace_id, exc)
        return _error(503, "unavailable", "try again later")
    except Exception:  # noqa: BLE001 - an internet-facing endpoint answers, never crashes
        log.exception("WhatsApp webhook for %s failed", workspace_id)
        return _error(503, "unavailable", "try again later")


async def _receive(services: Services, workspace_id: str, request: Request) -> JSONResponse:
    config = _config(services, workspace_id)
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "too_large", "webhook body too large")
    header = request.headers.get(whatsapp_graph.SIGNATURE_HEADER)
    if not whatsapp_graph.verify_signature(body, header, config.app_secret.get_secret_value()):
        log.warning("WhatsApp webhook for %s refused: bad or missing signature", workspace_id)
        return _error(401, "unauthorized", "the X-Hub-Signature-256 signature does not match")
    try:
        payload = json.loads(body)
    except ValueError:
        log.warning("WhatsApp webhook for %s refused: the body is not JSON", workspace_id)
        return _error(400, "invalid_json", "the request body is not valid JSON")
    found, statuses = inbound_events(payload, config.phone_number_id)  # InvalidInput: 422
    received = duplicates = recorded = 0
    for message, person in found:
        pressed = thumbs.pressed(message)
        if pressed is not None:  # "Helpful" / "Not helpful": a rating, not a turn
            await thumbs_inbound.record_press(
                services, workspace_id, CHANNEL.name, str(message["from"]), pressed,
                _timestamp(message.get("timestamp")),
            )  # fmt: skip
            continue
        profile = person.get("profile") if isinstance(person.get("profile"), dict) else {}
        try:
            result = await receive(
                services,
                workspace_id,
                CHANNEL,
                str(message["from"]),
                {"message": message},
                customer={"name": (profile or {}).get("name")},
                sent_at=_timestamp(message.get("timestamp")),
            )
        except InvalidInput as exc:  # one bad message must not make Meta retry the batch
            log.warning("WhatsApp message %s refused: %s", message.get("id"), exc.message)
            continue
        duplicates += result.duplicate
        received += not result.duplicate and result.ignored is None
    for status in statuses:
        recorded += await record_status(
            services, CHANNEL.name, str(status.get("id")), str(status.get("status")), _why(status)
        )
    return JSONResponse({"received": received, "duplicates": duplicates, "statuses": recorded})


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _why(status: dict[str, Any]) -> str | None:
    problems = status.get("errors")
    if not isinstance(problems, list) or not problems or not isinstance(problems[0], dict):
        return None
    first = problems[0]
    details = (first.get("error_data") or {}).get("details") or first.get("title") or ""
    return f"{first.get('code')}: {details}"[:300]
