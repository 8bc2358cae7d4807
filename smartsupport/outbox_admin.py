"""The outbox's admin routes: list entries (``?status=dead`` for the dead letters) and requeue
one, only ever for the admin's own workspaces."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import STAFF, errors
from smartsupport.errors import NotFound
from smartsupport.outbox import Entry, get, list_entries, requeue
from smartsupport.services import Services
from smartsupport.staff import StaffUser, audited, require_role, require_workspace, verify_csrf

router = APIRouter(prefix="/api/v1/admin/outbox", tags=["admin"])
require_admin = require_role("admin")
Admin = Annotated[StaffUser, Depends(require_admin)]


class OutboxEntryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    workspace: str
    kind: str = Field(description="What the entry does: ticket.create, slack.notify, ...")
    status: str = Field(description="pending, done or dead")
    attempts: int
    next_attempt_at: str
    last_error: str | None
    result: dict[str, Any] | None = Field(description="What the remote service answered.")
    created_at: str


class RequeuedOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    status: str


@router.get(
    "",
    response_model=list[OutboxEntryOut],
    operation_id="listOutbox",
    responses=errors(*STAFF, 422),
)
async def list_outbox(
    request: Request,
    user: Admin,
    status: str | None = Query(default=None, pattern="^(pending|done|dead)$"),
    workspace: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Outbox entries of the admin's workspaces, newest first; ``status=dead`` lists what
    needs an admin."""
    db = request.app.state.services.store
    if workspace is not None:
        require_workspace(user, workspace)
    entries: list[Entry] = []
    for ws in [workspace] if workspace else list(user.workspaces):
        entries += await list_entries(db, status=status, workspace_id=ws, limit=limit)
    entries.sort(key=lambda e: e.created_at, reverse=True)
    return [
        {
            "id": e.id,
            "workspace": e.workspace_id,
            "kind": e.kind,
            "status": e.status,
            "attempts": e.attempts,
            "next_attempt_at": e.next_attempt_at.isoformat(),
            "last_error": e.last_error,
            "result": e.result,
            "created_at": e.created_at.isoformat(),
        }
        for e in entries[:limit]
    ]


@router.post(
    "/{entry_id}/requeue",
    status_code=202,
    dependencies=[Depends(verify_csrf)],
    response_model=RequeuedOut,
    operation_id="requeueOutboxEntry",
    responses=errors(*STAFF, 404),
)
async def requeue_entry(entry_id: str, request: Request, user: Admin) -> dict[str, str]:
    """Send a dead (or waiting) entry again now."""
    services: Services = request.app.state.services
    entry = await get(services.store, entry_id)  # type: ignore[arg-type]
    if entry is None:
        raise NotFound(f"no outbox entry {entry_id!r}")
    require_workspace(user, entry.workspace_id)
    await requeue(services.store, entry_id)  # type: ignore[arg-type]
    await audited.action(
        services.store, "outbox.requeued", by=user, target=f"outbox:{entry_id}",
        workspace_id=entry.workspace_id,
    )  # fmt: skip
    services.outbox_due.set()
    return {"id": entry_id, "status": "pending"}
