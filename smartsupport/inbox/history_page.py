"""``/inbox/history``: every conversation, findable (the resolved view is ``status=resolved``).

A plain GET form, so a search is a link an agent can share; the results are the same cards
as ``GET /api/v1/inbox/search`` (history_api.py). Tags are added and removed with small
forms on the conversation's side panel (POST, CSRF field, back to the page).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from smartsupport.domain import ConversationStatus
from smartsupport.errors import InvalidInput, RequestError
from smartsupport.inbox import tags
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.history_api import database, run_search, services_of
from smartsupport.inbox.pages import HEADERS, _base, _page_user, render
from smartsupport.inbox.search import SearchQuery
from smartsupport.staff import verify_csrf
from smartsupport.staff.deps import submitted_form

router = APIRouter(include_in_schema=False)
FILTERS = ("q", "customer", "status", "channel", "agent", "intent", "tag", "since", "until")
STATUSES = [s.value for s in ConversationStatus]


def _day(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), UTC)
    except ValueError:
        raise InvalidInput(f"{name}: a date as YYYY-MM-DD, not {value[:30]!r}") from None


def _query(params: dict[str, str]) -> SearchQuery:
    status = params.get("status") or None
    if status and status not in STATUSES:
        raise InvalidInput(f"status: one of {', '.join(STATUSES)}")
    until = _day(params.get("until", ""), "until")
    before = params.get("before") or None
    try:
        before_at = datetime.fromisoformat(before) if before else None
    except ValueError:
        raise InvalidInput("before: the time of the last card of the previous page") from None
    return SearchQuery(
        text=params.get("q", "")[:500],
        customer=params.get("customer", "")[:320],
        status=status,
        channel=params.get("channel") or None,
        agent=params.get("agent") or None,
        intent=params.get("intent") or None,
        tag=params.get("tag") or None,
        customer_id=params.get("customer_id") or None,
        since=_day(params.get("since", ""), "since"),
        # "until" is the last day shown: everything started before the next midnight.
        until=until + timedelta(days=1) if until else None,
        before=before_at,
    )


@router.get("/inbox/history")
async def history_page(request: Request) -> Response:
    user = await _page_user(request)
    if isinstance(user, Response):
        return user
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    context: dict[str, Any] = {
        **_base(request, user, "history"),
        "params": {k: params.get(k, "") for k in FILTERS},
        "customer_id": params.get("customer_id", ""),
        "statuses": STATUSES,
        "cards": [],
        "problem": None,
        "more": None,
    }
    try:
        query = _query(params)
        cards = await run_search(services_of(request), user, query)
    except RequestError as error:
        context["problem"] = error.message
        return render("history.html", error.status_code, **context)
    context["cards"] = cards
    if len(cards) == query.limit and cards[-1].updated_at:
        kept = {k: v for k, v in params.items() if v and k != "before"}
        context["more"] = "/inbox/history?" + urlencode(
            {**kept, "before": cards[-1].updated_at.isoformat()}
        )
    return render("history.html", **context)


@router.post("/inbox/conversations/{conversation_id}/tags", dependencies=[Depends(verify_csrf)])
async def tags_form(request: Request, conversation_id: str) -> Response:
    """The side panel's tag forms: ``add`` (comma-separated) or ``remove`` (one tag)."""
    user = await _page_user(request)
    if isinstance(user, Response):
        return user
    form = await submitted_form(request)
    services = services_of(request)
    back = f"/inbox/conversations/{conversation_id}"
    try:
        conversation = await load_for(services, user, conversation_id)
        if form.get("remove"):
            await tags.remove_tag(database(services), conversation_id, form["remove"])
        else:
            wanted = [t for t in (form.get("add") or "").split(",") if t.strip()]
            await tags.add_tags(
                database(services), conversation.workspace_id, conversation_id, wanted, user.id
            )
    except RequestError as error:
        return render(
            "error.html",
            error.status_code,
            **_base(request, user, "inbox"),
            title="Tags not changed",
            message=error.message,
        )
    return RedirectResponse(back, status_code=303, headers=HEADERS)
