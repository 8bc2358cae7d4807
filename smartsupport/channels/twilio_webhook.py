"""Twilio's webhooks of a workspace (docs/channels.md):

    POST /api/v1/channels/twilio/{workspace}/sms        an incoming SMS (or MMS)
    POST /api/v1/channels/twilio/{workspace}/whatsapp   an incoming WhatsApp message
    POST /api/v1/channels/twilio/{workspace}/status     a status callback of a message we sent

    unknown workspace / no twilio section   404
    forged or missing X-Twilio-Signature    401, nothing stored
    no MessageSid, a broken form            422 and a log line
    our store failing                       503: Twilio retries, and the MessageSid
                                            (client_id) keeps a retry from answering twice
    received                                204: replies leave through the Messages API and
                                            the outbox, never in the webhook's answer
    "1" / "2" right after an answer that    204: the answer's rating (thumbs_inbound), no
    offered them                            turn, nothing stored in the transcript or sent

Twilio signs the URL it called. Behind a proxy that URL is not the one this process sees:
set SMARTSUPPORT_PUBLIC_URL to the public base URL and the signature is checked against it.
"""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from smartsupport.api_docs import error_response, errors
from smartsupport.channels import thumbs_inbound, twilio_rest
from smartsupport.channels.messaging_config import TwilioConfig, twilio_config
from smartsupport.channels.messaging_inbound import receive, record_status
from smartsupport.channels.twilio import (
    WHATSAPP_PREFIX,
    TwilioChannel,
    TwilioWhatsAppChannel,
    address_of,
    inbound_text,
)
from smartsupport.errors import (
    BackendError,
    ConfigurationError,
    InvalidInput,
    NotFound,
    RequestError,
    TooLarge,
    Unauthorized,
)
from smartsupport.services import Services

log = logging.getLogger(__name__)
SMS, WHATSAPP = TwilioChannel(), TwilioWhatsAppChannel()
MAX_BODY = 64 * 1024  # a form of at most ten media URLs and a 1600-character body

router = APIRouter(prefix="/api/v1/channels", tags=["messaging channels"])


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status)


@router.post(
    "/twilio/{workspace_id}/{kind}",
    operation_id="receiveTwilioWebhook",
    status_code=204,
    response_class=Response,
    responses={
        401: error_response(401, "Forged or missing X-Twilio-Signature."),
        **errors(404, 413, 422),
        503: {k: v for k, v in error_response(503).items() if k != "headers"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Twilio's form parameters, signed with the Auth Token.",
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
        }
    },
)
async def twilio_webhook(
    workspace_id: str, kind: Literal["sms", "whatsapp", "status"], request: Request
) -> Response:
    """An incoming SMS or WhatsApp message, or a status callback, from Twilio."""
    services: Services = request.app.state.services
    try:
        await _receive(services, workspace_id, kind, request)
    except RequestError as exc:
        log.warning("Twilio %s webhook for %s refused: %s", kind, workspace_id, exc.message)
        return _error(exc.status_code, exc.code, exc.message)
    except (BackendError, ConfigurationError) as exc:
        log.warning("Twilio %s webhook for %s not processed: %s", kind, workspace_id, exc)
        return _error(503, "unavailable", "try again later")
    except Exception:  # noqa: BLE001 - an internet-facing endpoint answers, never crashes
        log.exception("Twilio %s webhook for %s failed", kind, workspace_id)
        return _error(503, "unavailable", "try again later")
    return Response(status_code=204)


def _config(services: Services, workspace_id: str) -> TwilioConfig:
    if workspace_id not in services.workspaces:
        raise NotFound("unknown workspace")
    config = twilio_config(services.workspace(workspace_id))
    if config is None:
        raise NotFound("no Twilio channel in this workspace")
    return config


def signed_url(request: Request, public_url: str) -> str:
    """The URL Twilio called, as it signed it."""
    if not public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return public_url.rstrip("/") + request.url.path + query


async def _receive(services: Services, workspace_id: str, kind: str, request: Request) -> None:
    config = _config(services, workspace_id)
    body = await request.body()
    if len(body) > MAX_BODY:
        raise TooLarge("webhook body too large")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("the body is not a form") from exc
    url = signed_url(request, services.settings.public_url)
    header = request.headers.get(twilio_rest.SIGNATURE_HEADER)
    if not twilio_rest.verify_signature(url, pairs, header, config.auth_token.get_secret_value()):
        raise Unauthorized("the X-Twilio-Signature signature does not match")
    params = dict(pairs)
    if params.get("AccountSid") != config.account_sid or not params.get("MessageSid"):
        raise InvalidInput("a Twilio webhook names this account and a MessageSid")
    if kind == "status":
        sender = params.get("From") or params.get("To") or ""
        channel = WHATSAPP if sender.startswith(WHATSAPP_PREFIX) else SMS
        error = params.get("ErrorCode") or None
        await record_status(
            services, channel.name, params["MessageSid"], params.get("MessageStatus", ""), error
        )
        return
    channel = WHATSAPP if kind == "whatsapp" else SMS
    address = address_of(params.get("From", ""))
    if not address:
        raise InvalidInput("the webhook names no sender (From)")
    # a broken form is refused before a conversation is started
    text, kept = inbound_text(params)
    if not kept and await thumbs_inbound.record_reply(
        services, workspace_id, channel.name, address, text
    ):
        return  # "1" / "2" right after an answer that offered it: its rating, not a turn
    await receive(
        services,
        workspace_id,
        channel,
        address,
        {"params": params},
        customer={"name": params.get("ProfileName") or None},
        sms=channel is SMS,
        # Twilio answers STOP/START/HELP on SMS itself (Advanced Opt-Out); not on WhatsApp.
        provider_confirms=channel is SMS and config.handles_opt_out,
    )
