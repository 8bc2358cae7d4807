"""The macros page (``/inbox/macros``, admins): the workspaces' macros, and the form that
creates and edits them through the admin API (macro_api.py; macros.js sends it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from smartsupport.inbox import business_actions
from smartsupport.inbox.macro_runs import database
from smartsupport.inbox.macro_store import MacroStore
from smartsupport.inbox.pages import _base, _page_user, render, services_of
from smartsupport.staff.models import ROLES

router = APIRouter(include_in_schema=False)


@router.get("/inbox/macros")
async def macros_page(request: Request) -> Response:
    user = await _page_user(request, "admin")
    if isinstance(user, Response):
        return user
    services = services_of(request)
    store = MacroStore(database(services))
    workspaces = [
        {
            "id": workspace_id,
            "macros": await store.for_workspaces([workspace_id]),
            "actions": sorted(business_actions.action_names(services, workspace_id)),
        }
        for workspace_id in user.workspaces
    ]
    return render(
        "macros.html", **_base(request, user, "macros"), workspaces=workspaces, roles=ROLES
    )
