"""Macros and order cards in the staff API (``/api/v1/inbox/...``) and the side panel.

    GET    /api/v1/inbox/macros                                  the caller's workspaces' macros
    POST   /api/v1/inbox/macros                                  create one (admin)
    PUT    /api/v1/inbox/macros/{macro_id}                       replace one (admin)
    DELETE /api/v1/inbox/macros/{macro_id}                       delete one (admin)
    GET    /api/v1/inbox/conversations/{id}/macros               each macro planned for it: the
                                                                 confirmation's lines, may I run it
    POST   /api/v1/inbox/conversations/{id}/macros/{macro_id}/runs   run it (macro_runs.py)
    GET    /api/v1/inbox/conversations/{id}/cards                order and product cards
    GET    /inbox/fragments/cards/{id}                           the cards in the side panel

Admins manage macros (they decide which business actions agents may trigger, and at which
role); every change and every run is in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from smartsupport.api_docs import STAFF, errors
from smartsupport.errors import RequestError
from smartsupport.inbox import business_actions, macro_runs, macros, order_cards
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.macro_store import Macro, MacroStore
from smartsupport.inbox.pages import HEADERS, render
from smartsupport.services import Services
from smartsupport.staff import (
    StaffUser,
    audited,
    current_staff,
    optional_staff,
    require_role,
    require_workspace,
    verify_csrf,
)
from smartsupport.staff.models import Role

router = APIRouter(tags=["agent inbox"], dependencies=[Depends(verify_csrf)])
API = "/api/v1/inbox"
Staff = Annotated[StaffUser, Depends(current_staff)]
Admin = Annotated[StaffUser, Depends(require_role("admin"))]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MacroIn(macros.MacroSpec):
    workspace: str | None = Field(default=None, description="Default: the caller's first.")


class MacroOut(Body):
    id: str
    workspace: str
    name: str
    title: str
    role: Role
    action: macros.ActionStep | None
    reply: str
    tags: list[str]
    status: str


class MacroListOut(Body):
    macros: list[MacroOut]


class PlannedOut(Body):
    id: str
    name: str
    title: str
    role: Role
    allowed: bool = Field(description="The caller's role may run it.")
    action: str | None = Field(description="The business action it calls, if any.")
    confirm: bool = Field(description="It calls a business action: confirm before running.")
    steps: list[str] = Field(description="What it will do here, in order (the confirmation).")
    missing: list[str] = Field(description="Placeholders without a value here.")
    order_id: str | None


class PlannedListOut(Body):
    macros: list[PlannedOut]


class RunIn(Body):
    run_id: str = Field(
        min_length=1, max_length=40, description="Chosen by the client: one run per id."
    )
    confirm: bool = Field(default=False, description="Required for a business action.")


class RunOut(Body):
    run_id: str
    macro_id: str
    state: str = Field(description="done, failed (nothing done), partial or running.")
    replayed: bool = Field(description="This run id ran before: its outcome, nothing rerun.")
    steps: list[dict[str, Any]]
    message: str = Field(description="What was done and what failed, for the agent.")


class BusinessCardOut(Body):
    kind: str
    id: str
    ok: bool
    title: str
    fields: list[dict[str, str]]
    link: str | None
    error: str | None


class BusinessCardsOut(Body):
    configured: bool = Field(description="The workspace names actions for cards.")
    cards: list[BusinessCardOut]


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def store_of(services: Services) -> MacroStore:
    return MacroStore(macro_runs.database(services))


async def own_macro(services: Services, user: StaffUser, macro_id: str) -> Macro:
    macro = await store_of(services).get(macro_id)
    require_workspace(user, macro.workspace_id)
    return macro


def checked(services: Services, body: MacroIn, workspace: str) -> macros.MacroSpec:
    data = body.model_dump(exclude={"workspace"}, exclude_none=True)
    return macros.validate(data, business_actions.action_names(services, workspace))


@router.get(
    API + "/macros",
    response_model=MacroListOut,
    operation_id="listMacros",
    responses=errors(*STAFF),
)
async def list_macros(request: Request, user: Staff) -> dict[str, Any]:
    found = await store_of(services_of(request)).for_workspaces(user.workspaces)
    return {"macros": [m.as_json() for m in found]}


@router.post(
    API + "/macros",
    status_code=201,
    response_model=MacroOut,
    operation_id="createMacro",
    responses=errors(400, *STAFF, 409, 422),
)
async def create_macro(body: MacroIn, request: Request, user: Admin) -> dict[str, Any]:
    services = services_of(request)
    workspace = body.workspace or (user.workspaces[0] if user.workspaces else "")
    require_workspace(user, workspace)
    macro = await store_of(services).add(workspace, checked(services, body, workspace), user.id)
    await _audit(services, user, "macro.created", macro)
    return macro.as_json()


@router.put(
    API + "/macros/{macro_id}",
    response_model=MacroOut,
    operation_id="updateMacro",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def update_macro(
    macro_id: str, body: MacroIn, request: Request, user: Admin
) -> dict[str, Any]:
    services = services_of(request)
    macro = await own_macro(services, user, macro_id)
    spec = checked(services, body, macro.workspace_id)
    macro = await store_of(services).update(macro, spec)
    await _audit(services, user, "macro.updated", macro)
    return macro.as_json()


@router.delete(
    API + "/macros/{macro_id}",
    status_code=204,
    operation_id="deleteMacro",
    responses=errors(*STAFF, 404),
)
async def delete_macro(macro_id: str, request: Request, user: Admin) -> None:
    services = services_of(request)
    macro = await own_macro(services, user, macro_id)
    await store_of(services).delete(macro_id)
    await _audit(services, user, "macro.deleted", macro)


async def _audit(services: Services, user: StaffUser, name: str, macro: Macro) -> None:
    spec = macro.spec
    await audited.action(
        services.store, name, by=user, target=f"macro:{macro.id}",
        workspace_id=macro.workspace_id,
        details={"name": spec.name, "role": spec.role, "status": spec.status,
                 "action": spec.action.name if spec.action else None, "tags": spec.tags},
    )  # fmt: skip


async def planned(
    services: Services, user: StaffUser, conversation_id: str
) -> list[dict[str, Any]]:
    here = await macro_runs.situation(services, user, conversation_id)
    found = []
    for macro in await store_of(services).for_workspaces([here.conversation.workspace_id]):
        plan = here.plan(macro, user)
        found.append(
            {
                "id": macro.id,
                "name": macro.spec.name,
                "title": macro.spec.title,
                "role": macro.spec.role,
                "allowed": user.has_role(macro.spec.role),
                "action": plan.action,
                "confirm": plan.action is not None,
                "steps": plan.steps(macro.spec.title),
                "missing": plan.missing,
                "order_id": plan.order_id,
            }
        )
    return found


@router.get(
    API + "/conversations/{conversation_id}/macros",
    response_model=PlannedListOut,
    operation_id="listMacrosForConversation",
    responses=errors(*STAFF, 404),
)
async def macros_for(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    """The workspace's macros as they would run on this conversation."""
    return {"macros": await planned(services_of(request), user, conversation_id)}


@router.post(
    API + "/conversations/{conversation_id}/macros/{macro_id}/runs",
    status_code=201,
    response_model=RunOut,
    operation_id="runMacro",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def run_macro(
    conversation_id: str, macro_id: str, body: RunIn, request: Request, user: Staff
) -> Any:
    """Run a macro. 201 with ``state`` done, failed (the business action failed: nothing was
    done, the customer was told nothing) or partial (the action was done, a later step was
    not); 200 with ``replayed`` when this run id ran before."""
    services = services_of(request)
    macro = await own_macro(services, user, macro_id)
    outcome = await macro_runs.run(
        services, user, conversation_id, macro, body.run_id, confirmed=body.confirm
    )
    if outcome.replayed:
        return JSONResponse(outcome.as_json(), status_code=200)
    return outcome.as_json()


async def cards_for(services: Services, user: StaffUser, conversation_id: str) -> dict[str, Any]:
    conversation = await load_for(services, user, conversation_id)
    customer = await services.store.get_customer(conversation.customer_id)
    messages = await services.store.list_messages(conversation_id)
    found = await order_cards.cards(services, conversation, customer, messages)
    return {
        "configured": bool(order_cards.configured(services, conversation.workspace_id)),
        "cards": found,
    }


@router.get(
    API + "/conversations/{conversation_id}/cards",
    response_model=BusinessCardsOut,
    operation_id="getConversationCards",
    responses=errors(*STAFF, 404),
)
async def get_cards(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    """The order the customer talks about and its products, from the business's API."""
    found = await cards_for(services_of(request), user, conversation_id)
    return {**found, "cards": [c.as_json() for c in found["cards"]]}


@router.get("/inbox/fragments/cards/{conversation_id}", include_in_schema=False)
async def cards_fragment(conversation_id: str, request: Request) -> Response:
    """The side panel's cards with their one-click actions (macros with a business action)."""
    user = await optional_staff(request)
    if user is None:
        return Response(status_code=401, headers=HEADERS)
    services = services_of(request)
    try:
        found = await cards_for(services, user, conversation_id)
        actions = [m for m in await planned(services, user, conversation_id) if m["action"]]
    except RequestError as exc:
        return Response(exc.message, status_code=exc.status_code, headers=HEADERS)
    return render("cards.html", conversation_id=conversation_id, actions=actions, **found)
