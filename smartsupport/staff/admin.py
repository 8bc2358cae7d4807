"""Admin API under /api/v1/admin/staff: staff users (and their roles) and API keys.

An admin sees and manages only their own workspaces: users who share one with them, keys
bound to one of them. Changing a user who also belongs to a workspace the admin does not
administer would reach into that workspace, so it is refused (403).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import STAFF, errors
from smartsupport.errors import Conflict, Forbidden, NotFound
from smartsupport.staff import apikeys, audited, keyauth, passwords
from smartsupport.staff.config import staff_config
from smartsupport.staff.deps import _services, require_role, require_workspace, verify_csrf
from smartsupport.staff.models import RANK, Role, StaffRecord, StaffUser
from smartsupport.staff.store import StaffStore

router = APIRouter(prefix="/api/v1/admin/staff", tags=["staff admin"])
AdminUser = Annotated[StaffUser, Depends(require_role("admin"))]


def record_json(record: StaffRecord, visible: list[str]) -> dict[str, Any]:
    return {
        "id": record.id,
        "email": record.email,
        "name": record.name,
        "role": record.role,
        # Only the admin's own workspaces: the others' names are not theirs to see.
        "workspaces": [w for w in record.workspaces if w in visible],
        "disabled": record.disabled,
        "totp_enabled": record.totp_enabled,
    }


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def key_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "prefix": f"{apikeys.PREFIX}{row['prefix']}",
        "name": row["name"],
        "workspace": row["workspace_id"],
        "scopes": row["scopes"],
        "created_at": _iso(row["created_at"]),
        "last_used_at": _iso(row["last_used_at"]),
        "revoked": row["revoked_at"] is not None,
        "expires_at": _iso(row.get("expires_at")),
        "rate_limit_per_minute": row.get("rate_limit_per_minute"),
    }


class StaffRecordOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    email: str
    name: str
    role: Role
    workspaces: list[str] = Field(description="Only the admin's own workspaces are shown.")
    disabled: bool
    totp_enabled: bool


class StaffListOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    staff: list[StaffRecordOut]


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    prefix: str = Field(description="The key's visible start, to recognise it by.")
    name: str
    workspace: str
    scopes: list[str]
    created_at: str
    last_used_at: str | None
    revoked: bool
    expires_at: str | None = Field(description="Refused from then on; null: never expires.")
    rate_limit_per_minute: int | None = Field(
        description="Requests per minute; null: the deployment's default."
    )


class ApiKeyListOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_keys: list[ApiKeyOut]


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The key itself, shown this once: only its hash is stored.")


class StaffIn(BaseModel):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(default="", max_length=100)
    role: Role
    workspaces: list[str] = Field(min_length=1, max_length=50)
    password: str = Field(max_length=passwords.MAX_LENGTH)


class ApiKeyIn(BaseModel):
    name: str = Field(default="", max_length=100)
    workspace: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=30)
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="Omitted: the key never expires."
    )
    rate_limit_per_minute: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Omitted: the deployment's default."
    )


class RoleIn(BaseModel):
    role: Role


@router.get(
    "",
    response_model=StaffListOut,
    operation_id="listStaff",
    responses=errors(*STAFF),
)
async def list_staff(request: Request, admin: AdminUser) -> dict[str, Any]:
    records = await StaffStore(_services(request).store).list_users(admin.workspaces)
    return {"staff": [record_json(r, admin.workspaces) for r in records]}


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(verify_csrf)],
    response_model=StaffRecordOut,
    operation_id="createStaff",
    responses=errors(400, *STAFF, 409, 422),
)
async def create_staff(body: StaffIn, request: Request, admin: AdminUser) -> dict[str, Any]:
    for workspace in body.workspaces:
        require_workspace(admin, workspace)
    passwords.check_policy(body.password, email=body.email)
    store = StaffStore(_services(request).store)
    try:
        record = await store.create_user(
            email=body.email,
            name=body.name or body.email.split("@")[0],
            role=body.role,
            workspaces=body.workspaces,
            password_hash=await passwords.hash_password(body.password),
            now=staff_config(request.app.state).now(),
        )
    except Conflict:
        raise Conflict("a staff account with this email already exists") from None
    await audited.action(
        _services(request).store, "staff.created", by=admin, target=f"staff:{record.id}",
        ip=_ip(request), details={"role": record.role, "workspaces": body.workspaces},
    )  # fmt: skip
    return record_json(record, admin.workspaces)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _managed(request: Request, admin: StaffUser, user_id: str) -> StaffRecord:
    record = await StaffStore(_services(request).store).get_user(user_id)
    if record is None or not set(record.workspaces) & set(admin.workspaces):
        raise NotFound("no such staff user")
    if not set(record.workspaces) <= set(admin.workspaces):
        raise Forbidden(
            "this user also belongs to a workspace you do not administer",
            code="workspace_forbidden",
        )
    if record.id == admin.id:
        raise Conflict("you cannot disable or enable your own account")
    return record


@router.post(
    "/{user_id}/disable",
    dependencies=[Depends(verify_csrf)],
    response_model=StaffRecordOut,
    operation_id="disableStaff",
    responses=errors(*STAFF, 404, 409),
)
async def disable_staff(user_id: str, request: Request, admin: AdminUser) -> dict[str, Any]:
    """Disable the account and end its sessions at once."""
    record = await _managed(request, admin, user_id)
    store = StaffStore(_services(request).store)
    await store.set_disabled(record.id, True, staff_config(request.app.state).now())
    record.disabled = True
    await audited.action(
        _services(request).store, "staff.disabled", by=admin, target=f"staff:{record.id}",
        ip=_ip(request),
    )  # fmt: skip
    return record_json(record, admin.workspaces)


@router.post(
    "/{user_id}/enable",
    dependencies=[Depends(verify_csrf)],
    response_model=StaffRecordOut,
    operation_id="enableStaff",
    responses=errors(*STAFF, 404, 409),
)
async def enable_staff(user_id: str, request: Request, admin: AdminUser) -> dict[str, Any]:
    record = await _managed(request, admin, user_id)
    store = StaffStore(_services(request).store)
    await store.set_disabled(record.id, False, staff_config(request.app.state).now())
    record.disabled = False
    await audited.action(
        _services(request).store, "staff.enabled", by=admin, target=f"staff:{record.id}",
        ip=_ip(request),
    )  # fmt: skip
    return record_json(record, admin.workspaces)


def _by_a_person(admin: StaffUser) -> None:
    """Keys and roles are changed by a signed-in person, never by an API key: a key that
    could mint keys or promote people would outlive its own revocation."""
    if admin.api_key_id is not None:
        raise Forbidden("sign in to do this; an API key cannot", code="session_required")


@router.post(
    "/{user_id}/role",
    dependencies=[Depends(verify_csrf)],
    response_model=StaffRecordOut,
    operation_id="changeStaffRole",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def change_role(
    user_id: str, body: RoleIn, request: Request, admin: AdminUser
) -> dict[str, Any]:
    """Give a staff member another role. Their sessions end, so the new role (and its MFA
    policy) applies from their next sign-in; keys they made are capped by it at once."""
    _by_a_person(admin)
    store = StaffStore(_services(request).store)
    record = await store.get_user(user_id)
    if record is None or not set(record.workspaces) & set(admin.workspaces):
        raise NotFound("no such staff user")
    if not set(record.workspaces) <= set(admin.workspaces):
        raise Forbidden(
            "this user also belongs to a workspace you do not administer",
            code="workspace_forbidden",
        )
    if record.id == admin.id:
        raise Conflict("you cannot change your own role: ask another admin")
    before = record.role
    if body.role != before:
        await store.set_role(record.id, body.role, staff_config(request.app.state).now())
        record.role = body.role
        await audited.action(
            _services(request).store, "staff.role_changed", by=admin,
            target=f"staff:{record.id}", ip=_ip(request),
            details={"from": before, "to": body.role},
        )  # fmt: skip
    return record_json(record, admin.workspaces)


@router.get(
    "/api-keys",
    response_model=ApiKeyListOut,
    operation_id="listApiKeys",
    responses=errors(*STAFF),
)
async def list_api_keys(request: Request, admin: AdminUser) -> dict[str, Any]:
    rows = await StaffStore(_services(request).store).list_api_keys(admin.workspaces)
    return {"api_keys": [key_json(row) for row in rows]}


@router.post(
    "/api-keys",
    status_code=201,
    dependencies=[Depends(verify_csrf)],
    response_model=NewApiKeyOut,
    operation_id="createApiKey",
    responses=errors(400, *STAFF, 422),
)
async def create_api_key(body: ApiKeyIn, request: Request, admin: AdminUser) -> dict[str, Any]:
    """The key is in the answer this once; only its hash is stored. Its role scopes may not
    exceed the creator's role (and at every use it is capped by the role they have then).
    Only a signed-in person creates keys: a key cannot make another key."""
    _by_a_person(admin)
    require_workspace(admin, body.workspace)
    scopes = apikeys.check_scopes(body.scopes)
    wanted = keyauth.highest_role(scopes)
    if wanted is not None and RANK[wanted] > RANK[admin.role]:
        raise Forbidden(
            f"a key cannot exceed its creator's role ({admin.role})", code="role_required"
        )
    key, prefix, key_hash = apikeys.generate()
    now = staff_config(request.app.state).now()
    row = await StaffStore(_services(request).store).create_api_key(
        prefix=prefix,
        key_hash=key_hash,
        name=body.name or f"key for {body.workspace}",
        workspace_id=body.workspace,
        scopes=scopes,
        created_by=admin.id,
        now=now,
        expires_at=now + timedelta(days=body.expires_in_days) if body.expires_in_days else None,
        rate_limit_per_minute=body.rate_limit_per_minute,
    )
    await audited.action(
        _services(request).store, "api_key.created", by=admin, target=f"api_key:{row['id']}",
        workspace_id=body.workspace, ip=_ip(request), details={"scopes": scopes},
    )  # fmt: skip
    return {**key_json(row), "key": key}


@router.delete(
    "/api-keys/{key_id}",
    dependencies=[Depends(verify_csrf)],
    response_model=ApiKeyOut,
    operation_id="revokeApiKey",
    responses=errors(*STAFF, 404),
)
async def revoke_api_key(key_id: str, request: Request, admin: AdminUser) -> dict[str, Any]:
    store = StaffStore(_services(request).store)
    row = await store.get_api_key(key_id)
    if row is None or row["workspace_id"] not in admin.workspaces:
        raise NotFound("no such API key")
    await store.revoke_api_key(key_id, staff_config(request.app.state).now())
    await audited.action(
        _services(request).store, "api_key.revoked", by=admin, target=f"api_key:{key_id}",
        workspace_id=row["workspace_id"], ip=_ip(request),
    )  # fmt: skip
    return {**key_json(row), "revoked": True}
