"""The proactive-messages API: the business's systems message a customer first, and record
what the customer agreed to (proactive.py does the sending). API keys with
``messages:write`` of the workspace:

    POST /api/v1/workspaces/{ws}/proactive        {"channel", "to", "text", "send_at"?,
                                                   "template"?, "require_opt_in"?,
                                                   "idempotency_key"?}
                                                  -> 202 {"id", "status": "scheduled", ...}
    GET  /api/v1/workspaces/{ws}/proactive/{id}   scheduled | sent | skipped | failed |
                                                  cancelled
    DELETE /api/v1/workspaces/{ws}/proactive/{id} cancel a scheduled message (409 once it
                                                  is going out or gone)
    PUT  /api/v1/workspaces/{ws}/contacts/{channel}/{address}/consent   {"consent": in|out}
                                                  an opt-in (or out) the business collected
                                                  itself (a checkbox at checkout)

``to`` is a phone number in E.164 form (+4915112345678) on whatsapp, sms and
twilio_whatsapp, the app's user id on the api channel.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from smartsupport import proactive
from smartsupport.api_docs import errors
from smartsupport.channels import contacts
from smartsupport.channels.messaging_config import (
    api_channel_config,
    twilio_config,
    whatsapp_config,
)
from smartsupport.channels.messaging_inbound import contact_for
from smartsupport.errors import Conflict, InvalidInput, NotFound
from smartsupport.ids import new_id
from smartsupport.outbox import Entry, cancel, get
from smartsupport.services import Services
from smartsupport.staff import ApiKeyPrincipal, require_api_key, require_workspace
from smartsupport.storage.base import SqlExecutor

router = APIRouter(prefix="/api/v1/workspaces", tags=["proactive messages"])
ChannelName = Literal["whatsapp", "sms", "twilio_whatsapp", "api"]
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
WRITE = Depends(require_api_key("messages:write"))


class TemplateIn(BaseModel):
    """An approved WhatsApp template to use outside the 24-hour window."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field(default="en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    parameters: list[str] = Field(default_factory=list, max_length=10)


class ProactiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: ChannelName
    to: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=4000)
    send_at: AwareDatetime | None = Field(default=None, description="Default: now.")
    template: TemplateIn | None = None
    require_opt_in: bool = Field(
        default=False,
        description="Send only to an address that opted in (marketing); transactional "
        "notices need only no opt-out.",
    )
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class ProactiveOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    status: Literal["scheduled", "sent", "skipped", "failed", "cancelled"]
    send_at: str
    conversation_id: str
    attempts: int
    detail: str | None = Field(description="Why it was skipped or failed.")


class ContactConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent: Literal["in", "out"]


class ContactConsentOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str
    address: str
    consent: str
    conversation_id: str


def _services(request: Request, key: ApiKeyPrincipal, workspace_id: str) -> Services:
    require_workspace(key, workspace_id)
    services: Services = request.app.state.services
    if workspace_id not in services.workspaces:
        raise NotFound("unknown workspace")
    return services


def address(channel: str, to: str) -> str:
    """The contact address the channel's webhooks use for this number or user."""
    if channel == "api":
        return to
    if not E164.match(to):
        raise InvalidInput(f"{to!r} is not a phone number in E.164 form, e.g. +4915112345678")
    return to.lstrip("+") if channel == "whatsapp" else to


def _configured(services: Services, workspace_id: str, channel: str) -> None:
    workspace = services.workspace(workspace_id)
    if channel == "whatsapp":
        found: object = whatsapp_config(workspace)
    elif channel == "api":
        found = api_channel_config(workspace)
    else:
        config = twilio_config(workspace)
        found = config and (config.whatsapp_from if channel == "twilio_whatsapp" else True)
    if not found:
        raise InvalidInput(f"the workspace has no {channel} channel configured")


def _out(entry: Entry) -> dict[str, Any]:
    result = entry.result or {}
    if entry.status == "pending":
        status, detail = "scheduled", entry.last_error
    elif entry.status == "dead":
        status, detail = "failed", entry.last_error
    elif result.get("cancelled"):
        status, detail = "cancelled", str(result["cancelled"])
    elif result.get("skipped"):
        status, detail = "skipped", str(result["skipped"])
    else:
        status, detail = "sent", None
    return {
        "id": entry.id,
        "status": status,
        "send_at": entry.next_attempt_at.isoformat()
        if status == "scheduled"
        else entry.created_at.isoformat(),
        "conversation_id": entry.payload["conversation_id"],
        "attempts": entry.attempts,
        "detail": detail,
    }


@router.post(
    "/{workspace_id}/proactive",
    status_code=202,
    response_model=ProactiveOut,
    operation_id="scheduleProactiveMessage",
    responses=errors(400, 401, 403, 404, 422, 503),
)
async def schedule_proactive(
    workspace_id: str,
    body: ProactiveIn,
    request: Request,
    key: Annotated[ApiKeyPrincipal, WRITE],
) -> dict[str, Any]:
    """Schedule a notification or reminder on the customer's channel (see the module)."""
    services = _services(request, key, workspace_id)
    _configured(services, workspace_id, body.channel)
    contact = await contact_for(
        services, workspace_id, body.channel, address(body.channel, body.to)
    )
    request_ = proactive.ProactiveRequest(
        key=body.idempotency_key or new_id(),
        text=body.text,
        send_at=body.send_at,
        template=body.template.model_dump() if body.template else None,
        require_opt_in=body.require_opt_in,
    )
    db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
    entry = await proactive.schedule(db, workspace_id, contact.conversation_id, request_)
    services.outbox_due.set()
    return _out(entry)


@router.get(
    "/{workspace_id}/proactive/{entry_id}",
    response_model=ProactiveOut,
    operation_id="getProactiveMessage",
    responses=errors(401, 403, 404, 503),
)
async def get_proactive(
    workspace_id: str, entry_id: str, request: Request, key: Annotated[ApiKeyPrincipal, WRITE]
) -> dict[str, Any]:
    """Where a proactive message is: scheduled, sent, skipped (opt-out), failed or
    cancelled."""
    services = _services(request, key, workspace_id)
    return _out(await _entry(services, workspace_id, entry_id))


@router.delete(
    "/{workspace_id}/proactive/{entry_id}",
    response_model=ProactiveOut,
    operation_id="cancelProactiveMessage",
    responses=errors(401, 403, 404, 409, 503),
)
async def cancel_proactive(
    workspace_id: str, entry_id: str, request: Request, key: Annotated[ApiKeyPrincipal, WRITE]
) -> dict[str, Any]:
    """Cancel a scheduled message (an appointment moved, an order picked up early). Once it
    is going out or gone it cannot be called back: 409, with where it is."""
    services = _services(request, key, workspace_id)
    entry = await _entry(services, workspace_id, entry_id)
    db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
    if not await cancel(db, entry.id, {"cancelled": f"by API key {key.name}"}):
        state = _out(await _entry(services, workspace_id, entry_id))["status"]
        raise Conflict(f"the message is {state}: too late to cancel", code="not_cancellable")
    return _out(await _entry(services, workspace_id, entry_id))


async def _entry(services: Services, workspace_id: str, entry_id: str) -> Entry:
    entry = await get(services.store, entry_id)  # type: ignore[arg-type]
    if entry is None or entry.workspace_id != workspace_id or entry.kind != proactive.KIND:
        raise NotFound("no such proactive message")
    return entry


@router.put(
    "/{workspace_id}/contacts/{channel}/{to}/consent",
    response_model=ContactConsentOut,
    operation_id="setContactConsent",
    responses=errors(400, 401, 403, 404, 422, 503),
)
async def set_consent(
    workspace_id: str,
    channel: ChannelName,
    to: str,
    body: ContactConsentIn,
    request: Request,
    key: Annotated[ApiKeyPrincipal, WRITE],
) -> dict[str, Any]:
    """Record an opt-in or opt-out the business collected itself."""
    services = _services(request, key, workspace_id)
    _configured(services, workspace_id, channel)
    found = address(channel, to)
    contact = await contact_for(services, workspace_id, channel, found)
    db: SqlExecutor = services.store  # type: ignore[assignment]
    await contacts.set_consent(db, workspace_id, channel, found, body.consent)
    return {
        "channel": channel,
        "address": found,
        "consent": body.consent,
        "conversation_id": contact.conversation_id,
    }
