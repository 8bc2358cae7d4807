"""Routes for customers' data rights, consent and the audit log.

Admins of a workspace (session cookie with the CSRF header on DELETE, or later an API key):

    GET    /api/v1/admin/workspaces/{ws}/customers?external_id=&email=   find a customer
    GET    /api/v1/admin/workspaces/{ws}/customers/{id}/export   everything, as JSON
    DELETE /api/v1/admin/workspaces/{ws}/customers/{id}          erase (tombstone audited)
    GET    /api/v1/admin/workspaces/{ws}/audit?after=&limit=      the workspace's audit log
    GET    /api/v1/admin/audit/verify                             check the hash chain

The widget (visitor token of the conversation):

    GET  /api/v1/conversations/{id}/consent    the consent step, in the customer's language
    POST /api/v1/conversations/{id}/consent    accept it: {"version", "people_only"}
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport import audit, consent, customer_data
from smartsupport.api_docs import STAFF, VISITOR, errors
from smartsupport.channels.web_api import services_of, visitor_conversation
from smartsupport.domain import Conversation
from smartsupport.errors import InvalidInput
from smartsupport.staff import StaffUser, require_role, require_workspace, verify_csrf
from smartsupport.staff.store import StaffStore

router = APIRouter(tags=["privacy"])
AdminUser = Annotated[StaffUser, Depends(require_role("admin"))]
ADMIN = "/api/v1/admin/workspaces/{workspace}"


def actor_of(user: StaffUser) -> str:
    return f"staff:{user.id}"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


class CustomerRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    external_id: str | None
    created_at: str


class CustomersOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customers: list[CustomerRef]


class CustomerExportOut(BaseModel):
    """Everything stored about one customer (docs/security.md lists the parts)."""

    model_config = ConfigDict(extra="forbid")
    format: str
    exported_at: str
    customer: dict[str, Any]
    conversations: list[dict[str, Any]] = Field(
        description="Each with its messages, events and cached dialogue context."
    )
    feedback: list[dict[str, Any]]
    staff_notes: list[dict[str, Any]]
    assignments: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    helpdesk_tickets: list[dict[str, Any]]
    helpdesk_batched_requests: list[dict[str, Any]]
    email_threads: list[dict[str, Any]]
    channel_contacts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Their messaging addresses (phone number, WhatsApp id, app user id) "
        "per channel, with consent and the last message's time.",
    )
    attachments: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The files of their conversations (uploads, voice notes, email media): "
        "name, type, size, hash; the bytes stay in the attachment store.",
    )
    channel_deliveries: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The messaging provider's ids and statuses of the messages sent to "
        "them, with the provider's error for a failed one.",
    )
    audit: list[dict[str, Any]]


class ErasureOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str
    conversations: int
    messages: int
    events_anonymised: int
    outbox: int
    notes: int
    consents: int
    contexts: int
    attachments: int = Field(description="Files the erased messages listed.")
    helpdesk_tickets: list[dict[str, str]] = Field(
        description="Tickets in the helpdesk that hold a copy: erase them there too."
    )


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int
    created_at: str
    workspace_id: str | None
    actor: str
    action: str
    target: str | None
    customer_id: str | None
    ip: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditListOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[AuditEntryOut]


class AuditVerifyOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ok: bool
    entries: int
    head_seq: int | None
    head_hash: str | None
    broken_at: int | None
    problem: str


class ConsentOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    required: bool
    given: bool
    version: str | None
    language: str
    text: str
    people_only_offered: bool
    people_only_label: str
    accept_label: str
    people_only: bool


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=64)
    people_only: bool = False


async def _admin_of(workspace: str, user: AdminUser) -> StaffUser:
    require_workspace(user, workspace)
    return user


WorkspaceAdmin = Annotated[StaffUser, Depends(_admin_of)]


@router.get(
    f"{ADMIN}/customers",
    response_model=CustomersOut,
    operation_id="findCustomers",
    responses=errors(*STAFF, 422),
)
async def find_customers(
    workspace: str,
    request: Request,
    admin: WorkspaceAdmin,
    external_id: Annotated[str | None, Query(max_length=200)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> dict[str, Any]:
    """The customers with this external id or email: whose data a request is about."""
    if external_id is None and email is None:
        raise InvalidInput("give external_id or email")
    found = await customer_data.find_customers(
        services_of(request), workspace, external_id=external_id, email=email
    )
    return {
        "customers": [
            {"id": c.id, "external_id": c.external_id, "created_at": c.created_at.isoformat()}
            for c in found
        ]
    }


@router.get(
    f"{ADMIN}/customers/{{customer_id}}/export",
    response_model=CustomerExportOut,
    operation_id="exportCustomer",
    responses=errors(*STAFF, 404),
)
async def export_customer(
    workspace: str, customer_id: str, request: Request, admin: WorkspaceAdmin
) -> dict[str, Any]:
    """Everything stored about the customer (the export is recorded in the audit log)."""
    services = services_of(request)
    await customer_data.customer_in(services, workspace, customer_id)
    return await customer_data.export_customer(
        services, customer_id, actor=actor_of(admin), ip=client_ip(request)
    )


@router.delete(
    f"{ADMIN}/customers/{{customer_id}}",
    dependencies=[Depends(verify_csrf)],
    response_model=ErasureOut,
    operation_id="eraseCustomer",
    responses=errors(*STAFF, 404),
)
async def erase_customer(
    workspace: str, customer_id: str, request: Request, admin: WorkspaceAdmin
) -> dict[str, Any]:
    """Delete the customer and everything about them; the audit log keeps a tombstone."""
    services = services_of(request)
    await customer_data.customer_in(services, workspace, customer_id)
    done = await customer_data.erase_customer(
        services, customer_id, actor=actor_of(admin), ip=client_ip(request)
    )
    return {k: v for k, v in asdict(done).items() if k != "files"}


@router.get(
    f"{ADMIN}/audit",
    response_model=AuditListOut,
    operation_id="listAuditEntries",
    responses=errors(*STAFF, 422),
)
async def list_audit(
    workspace: str,
    request: Request,
    admin: WorkspaceAdmin,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The workspace's entries, plus sign-ins and account changes of its staff, oldest first."""
    found = await visible_entries(request, admin, [workspace], after=after, limit=limit)
    return {"entries": [e.as_json() for e in found]}


async def visible_entries(
    request: Request, admin: StaffUser, workspaces: list[str], **query: Any
) -> list[audit.AuditEntry]:
    """Entries of ``workspaces`` and of the staff who belong to one of them."""
    services = services_of(request)
    staff = await StaffStore(services.store).list_users(workspaces)
    principals = [f"staff:{s.id}" for s in staff]
    return await audit.entries(
        services.store,  # type: ignore[arg-type]
        workspaces=workspaces,
        principals=principals,
        **query,
    )


@router.get(
    "/api/v1/admin/audit/verify",
    response_model=AuditVerifyOut,
    operation_id="verifyAuditLog",
    responses=errors(*STAFF),
)
async def verify_audit(request: Request, admin: AdminUser) -> dict[str, Any]:
    """Recompute the whole hash chain: ``ok`` false names the first broken entry."""
    result = await audit.verify(services_of(request).store)  # type: ignore[arg-type]
    return {
        "ok": result.ok,
        "entries": result.entries,
        "head_seq": result.head[0] if result.head else None,
        "head_hash": result.head[1] if result.head else None,
        "broken_at": result.broken_at,
        "problem": result.problem,
    }


@router.get(
    "/api/v1/conversations/{conversation_id}/consent",
    response_model=ConsentOut,
    operation_id="getConsent",
    tags=["web channel"],
    responses=errors(*VISITOR),
)
async def get_consent(
    request: Request, conversation: Annotated[Conversation, Depends(visitor_conversation)]
) -> dict[str, Any]:
    """What the widget asks before the customer writes (``required`` false: nothing)."""
    services = services_of(request)
    workspace = services.workspace(conversation.workspace_id)
    return asdict(consent.request_for(workspace, conversation))


@router.post(
    "/api/v1/conversations/{conversation_id}/consent",
    response_model=ConsentOut,
    operation_id="giveConsent",
    tags=["web channel"],
    responses=errors(400, *VISITOR, 409, 422),
)
async def give_consent(
    body: ConsentIn,
    request: Request,
    conversation: Annotated[Conversation, Depends(visitor_conversation)],
) -> dict[str, Any]:
    """Accept the privacy notice shown (its ``version``), with the people-only choice."""
    shown = await consent.give_consent(
        services_of(request), conversation, version=body.version, people_only=body.people_only
    )
    return asdict(shown)
