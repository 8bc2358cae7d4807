"""The inbox's server-rendered pages (``/inbox``) and the HTML fragments its script swaps in
when the WebSocket says something changed.

Jinja2 with autoescaping everywhere: customer names, messages, notes, canned responses and
metadata are untrusted and are only ever output escaped. The pages' policy allows scripts
and styles from this origin only, so even a slip could not run inline script.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from smartsupport.errors import RequestError
from smartsupport.inbox import roster
from smartsupport.inbox.api import queue_for
from smartsupport.inbox.context import conversation_context
from smartsupport.inbox.history_api import side_panel
from smartsupport.inbox.presence import start_of_session
from smartsupport.inbox.queue import PRIORITIES
from smartsupport.inbox.store import InboxStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser, optional_staff
from smartsupport.staff.cookies import CSRF_COOKIE, CSRF_FIELD
from smartsupport.staff.models import Role

HERE = Path(__file__).parent
STATIC_FILES = {
    "dom.js": "text/javascript",  # the helpers the scripts below share ($, el, csrf)
    "inbox.js": "text/javascript",
    "inbox.css": "text/css",
    "dashboard.css": "text/css",  # the analytics dashboard (dashboard.py)
    "macros.js": "text/javascript",  # macros and order cards (macro_api.py)
    "macros.css": "text/css",
    "copilot.js": "text/javascript",  # summary and drafts on takeover (copilot_routes.py)
    "ergonomics.js": "text/javascript",  # shortcuts, alerts, collisions
    "unread.js": "text/javascript",  # unread counts, live (unread.py)
    "assist.css": "text/css",  # the copilot's and ergonomics.js's styles
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _clock(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%H:%M")


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["minutes"] = _minutes
templates.filters["clock"] = _clock


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code, headers=HEADERS)


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def _page_user(request: Request, role: Role = "agent") -> StaffUser | Response:
    """The user, a redirect to the login page, or a 403 page for a role below ``role``."""
    user = await optional_staff(request)
    if user is None:
        return RedirectResponse(f"/inbox/login?next={quote(request.url.path)}", status_code=303)
    if not user.has_role(role):
        return render(
            "error.html",
            403,
            user=user,
            csrf=request.cookies.get(CSRF_COOKIE, ""),
            csrf_field=CSRF_FIELD,
            active="",
            title="Not allowed",
            message=f"This page needs the {role} role. Ask an administrator if you need it.",
        )
    return user


async def _fragment_user(request: Request) -> StaffUser | Response:
    user = await optional_staff(request)
    if user is None:
        return Response(status_code=401, headers=HEADERS)
    return user


def _base(request: Request, user: StaffUser, active: str) -> dict[str, Any]:
    return {
        "user": user,
        "csrf": request.cookies.get(CSRF_COOKIE, ""),
        "csrf_field": CSRF_FIELD,
        "active": active,
    }


async def _conversation(request: Request, user: StaffUser, conversation_id: str) -> dict[str, Any]:
    services = services_of(request)
    ctx = await conversation_context(services, user, conversation_id, request.app.state)
    agents = await roster.workspace_agents(services, ctx.conversation.workspace_id)
    return {
        "ctx": ctx,
        "agents": [a for a in agents if a.id != user.id],
        "teams": sorted({t for a in agents for t in a.state.teams}),
        "priorities": PRIORITIES,
        "is_holder": ctx.holder_id == user.id,
        **await side_panel(services, user, ctx.conversation),  # tags, past (issue 16)
        "csrf": request.cookies.get(CSRF_COOKIE, ""),  # the side panel's tag forms
        "csrf_field": CSRF_FIELD,
    }


@router.get("/inbox")
async def inbox_page(request: Request) -> Response:
    return await _inbox(request, None)


@router.get("/inbox/conversations/{conversation_id}")
async def conversation_page(request: Request, conversation_id: str) -> Response:
    return await _inbox(request, conversation_id)


async def _inbox(request: Request, conversation_id: str | None) -> Response:
    user = await _page_user(request)
    if isinstance(user, Response):
        return user
    await start_of_session(services_of(request), user)  # online at sign-in (presence.py)
    context = {
        **_base(request, user, "inbox"),
        "idle_minutes": services_of(request).settings.agent_idle_minutes,
        "lists": await queue_for(services_of(request), user),
        "open": None,
    }
    if conversation_id is not None:
        try:
            context["open"] = await _conversation(request, user, conversation_id)
        except RequestError as exc:
            return render(
                "error.html",
                exc.status_code,
                **_base(request, user, "inbox"),
                title="Conversation unavailable",
                message=exc.message,
            )
    return render("inbox.html", **context)


@router.get("/inbox/fragments/lists")
async def lists_fragment(request: Request) -> Response:
    user = await _fragment_user(request)
    if isinstance(user, Response):
        return user
    return render(
        "lists.html",
        user=user,
        lists=await queue_for(services_of(request), user),
        current=request.query_params.get("current"),
    )


@router.get("/inbox/fragments/conversations/{conversation_id}/{part}")
async def conversation_fragment(request: Request, conversation_id: str, part: str) -> Response:
    user = await _fragment_user(request)
    if isinstance(user, Response):
        return user
    if part not in ("header", "context"):
        return Response(status_code=404, headers=HEADERS)
    try:
        open_ = await _conversation(request, user, conversation_id)
    except RequestError as exc:
        return Response(exc.message, status_code=exc.status_code, headers=HEADERS)
    return render(f"{part}.html", user=user, open=open_)


async def _workspace_rosters(services: Services, user: StaffUser) -> list[dict[str, Any]]:
    """Each of the user's workspaces with its agents: what the team and admin pages list."""
    return [
        {"id": workspace_id, "agents": await roster.workspace_agents(services, workspace_id)}
        for workspace_id in user.workspaces
    ]


@router.get("/inbox/team")
async def team_page(request: Request) -> Response:
    user = await _page_user(request, "supervisor")
    if isinstance(user, Response):
        return user
    services = services_of(request)
    workspaces = await _workspace_rosters(services, user)
    inbox = InboxStore(services.store)
    return render(
        "team.html",
        **_base(request, user, "team"),
        workspaces=workspaces,
        lists=await queue_for(services, user),
        csat=await inbox.csat_summary(user.workspaces),
        canned=await inbox.canned(user.workspaces),
    )


@router.get("/inbox/admin")
async def admin_page(request: Request) -> Response:
    user = await _page_user(request, "admin")
    if isinstance(user, Response):
        return user
    services = services_of(request)
    workspaces = await _workspace_rosters(services, user)
    return render("admin.html", **_base(request, user, "admin"), workspaces=workspaces)


@router.get("/inbox/static/{name}")
async def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response(status_code=404)
    return FileResponse(
        HERE / "static" / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
    )
