"""The inbox's team JSON API: agents' status, capacity and teams, and canned responses.

Same guards as api.py (session cookie, CSRF on unsafe methods, workspace checks); managing
canned responses needs the supervisor role, agents' capacity and teams the admin role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import STAFF, errors
from smartsupport.errors import NotFound
from smartsupport.inbox import assignment, canned, roster
from smartsupport.inbox import wire as out
from smartsupport.inbox.api import Staff, services_of
from smartsupport.inbox.store import InboxStore
from smartsupport.staff import StaffUser, audited, require_role, require_workspace, verify_csrf
from smartsupport.staff.store import StaffStore

router = APIRouter(
    prefix="/api/v1/inbox", tags=["agent inbox"], dependencies=[Depends(verify_csrf)]
)
Supervisor = Annotated[StaffUser, Depends(require_role("supervisor"))]
Admin = Annotated[StaffUser, Depends(require_role("admin"))]


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: int | None = Field(default=None, ge=0, le=50)
    teams: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=20)
    skills: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=30, description="What the agent handles (routing.py)."
    )
    languages: list[Annotated[str, Field(max_length=35)]] | None = Field(
        default=None, max_length=20, description="Languages they answer in; [] = any."
    )


class CannedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspace: str | None = None
    shortcut: str = Field(max_length=40)
    title: str = Field(max_length=120)
    body: str = Field(max_length=4000)


@router.get(
    "/canned",
    response_model=out.CannedListOut,
    operation_id="listCanned",
    responses=errors(401, 503),
)
async def list_canned(request: Request, user: Staff) -> dict[str, Any]:
    items = await InboxStore(services_of(request).store).canned(user.workspaces)
    return {
        "canned": [
            {
                "id": c.id,
                "workspace": c.workspace_id,
                "shortcut": c.shortcut,
                "title": c.title,
                "body": c.body,
            }
            for c in items
        ]
    }


@router.post(
    "/canned",
    status_code=201,
    response_model=out.CannedOut,
    operation_id="createCanned",
    responses=errors(400, *STAFF, 409, 422),
)
async def create_canned(body: CannedIn, request: Request, user: Supervisor) -> dict[str, Any]:
    workspace = body.workspace or (user.workspaces[0] if user.workspaces else "")
    require_workspace(user, workspace)
    shortcut, title, text = canned.validate(body.shortcut, body.title, body.body)
    item = await InboxStore(services_of(request).store).add_canned(
        workspace, shortcut, title, text, user.id
    )
    return {
        "id": item.id,
        "workspace": item.workspace_id,
        "shortcut": item.shortcut,
        "title": item.title,
        "body": item.body,
    }


@router.delete(
    "/canned/{canned_id}",
    status_code=204,
    operation_id="deleteCanned",
    responses=errors(*STAFF, 404),
)
async def delete_canned(canned_id: str, request: Request, user: Supervisor) -> None:
    inbox = InboxStore(services_of(request).store)
    item = await inbox.get_canned(canned_id)
    require_workspace(user, item.workspace_id)
    await inbox.delete_canned(canned_id)


@router.put(
    "/me/status",
    response_model=out.AgentStatusOut,
    operation_id="setMyStatus",
    responses=errors(400, *STAFF, 422),
)
async def set_status(body: StatusIn, request: Request, user: Staff) -> dict[str, Any]:
    state = await assignment.set_agent_status(services_of(request), user, body.status)
    return {"status": state.status, "capacity": state.capacity}


@router.get(
    "/agents",
    response_model=out.AgentsOut,
    operation_id="listAgents",
    responses=errors(*STAFF),
)
async def list_agents(
    request: Request, user: Staff, workspace: str | None = None
) -> dict[str, Any]:
    """Agents of a workspace (default: the caller's first) with status and load: the
    transfer list for agents, the overview for supervisors."""
    workspace = workspace or (user.workspaces[0] if user.workspaces else "")
    require_workspace(user, workspace)
    services = services_of(request)
    agents = await roster.workspace_agents(services, workspace)
    return {
        "workspace": workspace,
        "teams": await roster.known_teams(services, workspace),
        "agents": [
            {
                "id": a.id,
                "name": a.name,
                "role": a.role,
                "status": a.state.status,
                "present": a.present,
                "capacity": a.state.capacity,
                "load": a.load,
                "teams": a.state.teams,
                "skills": a.state.skills,
                "languages": a.state.languages,
            }
            for a in agents
        ],
    }


@router.put(
    "/agents/{staff_id}",
    response_model=out.AgentConfigOut,
    operation_id="configureAgent",
    responses=errors(400, *STAFF, 404, 422),
)
async def configure_agent(
    staff_id: str, body: AgentIn, request: Request, user: Admin
) -> dict[str, Any]:
    services = services_of(request)
    record = await StaffStore(services.store).get_user(staff_id)
    if record is None or not set(record.workspaces) & set(user.workspaces):
        raise NotFound("no such staff member in your workspaces")
    state = await roster.configure_agent(
        services,
        staff_id,
        capacity=body.capacity,
        teams=body.teams,
        skills=body.skills,
        languages=body.languages,
    )
    for workspace in set(record.workspaces) & set(user.workspaces):
        await assignment.refresh(services, workspace)
    await audited.action(
        services.store, "agent.configured", by=user, target=f"staff:{staff_id}",
        details={"capacity": state.capacity, "teams": state.teams,
                 "skills": state.skills, "languages": state.languages},
    )  # fmt: skip
    return {
        "id": staff_id,
        "capacity": state.capacity,
        "teams": state.teams,
        "skills": state.skills,
        "languages": state.languages,
        "status": state.status,
    }
