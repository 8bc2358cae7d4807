"""``/inbox/resolutions/{workspace}``: supervisors and admins review the automated
resolutions the LLM check read (docs/analytics.md, "The LLM check of automated
resolutions"), and their verdicts measure how far the model can be trusted.

    GET  /inbox/resolutions/{workspace}                    the range's automated resolutions
         with the model's and the reviewer's verdicts, and the agreement of the two
    GET  /inbox/resolutions/{workspace}/{conversation_id}  the transcript and the verdict form
    POST /inbox/resolutions/{workspace}/{conversation_id}  a verdict (CSRF field), then back

The filters are the dashboard's, as a plain GET form, so a filtered view is a link. The list
and the agreement come from the functions behind the API (``resolution_agreement.listing``
and ``summary``, the report's ``resolution_check``), and a verdict is recorded through
``analytics_api.record_review`` like the API's PUT: the same checks, the same audit entry.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import QueryParams
from starlette.responses import RedirectResponse, Response

from smartsupport import resolution_agreement
from smartsupport.analytics import FILTERS
from smartsupport.analytics_api import filters_for, record_review, window
from smartsupport.domain import utcnow
from smartsupport.errors import RequestError
from smartsupport.inbox.pages import HEADERS, _base, _page_user, render, services_of
from smartsupport.staff import StaffUser, require_workspace, verify_csrf
from smartsupport.staff.deps import submitted_form

router = APIRouter(include_in_schema=False)
VERDICT_LABELS = {
    "resolved": "Resolved",
    "not_resolved": "Not resolved",
    "unclear": "Unclear",
    "invalid": "Invalid answer",
}
SHOWN_MESSAGES = 1000  # a transcript longer than this is cut, and the page says so


def _filters_of(query: QueryParams) -> dict[str, str]:
    """The dashboard's filters of a query string, the page's own parameters left out."""
    return {k: v for k, v in query.items() if k in FILTERS and v}


def _link(workspace: str, *rest: str, query: dict[str, str] | None = None) -> str:
    path = "/".join(["/inbox/resolutions", workspace, *rest])
    return path + (f"?{urlencode(query)}" if query else "")


@router.get("/inbox/resolutions/{workspace}")
async def resolutions_page(request: Request, workspace: str) -> Response:
    user = await _page_user(request, "supervisor")
    if isinstance(user, Response):
        return user
    services = services_of(request)
    # ``recorded`` names the conversation just judged: the page says so, no text is echoed.
    params = {k: v for k, v in request.query_params.items() if k != "recorded"}
    query = _filters_of(request.query_params)
    context: dict[str, Any] = {
        **_base(request, user, "dashboard"),
        "workspace": workspace,
        "workspaces": user.workspaces,
        "params": {k: params.get(k, "") for k in FILTERS},
        "labels": VERDICT_LABELS,
        "problem": None,
        "choices": {},
        "dashboard": "/inbox/dashboard?" + urlencode({"workspace": workspace, **query}),
    }
    try:
        filters = filters_for(request, user, workspace, params)
        now = utcnow()
        found = await resolution_agreement.listing(services.store, filters, window(services), now)
        check = await resolution_agreement.summary(
            services.store, filters, window(services), now,
            enabled=services.settings.resolution_check,
        )  # fmt: skip
        context["choices"] = await resolution_agreement.facets(
            services.store, filters, window(services), now
        )
    except RequestError as error:
        context["problem"] = error.message
        return render("resolutions.html", error.status_code, **context)
    recorded = request.query_params.get("recorded")
    return render(
        "resolutions.html",
        **context,
        filters=filters.as_json(),
        rows=found,
        check=check,
        capped=len(found) >= resolution_agreement.LISTED,
        recorded=next((r for r in found if r["conversation_id"] == recorded), None),
        links={
            r["conversation_id"]: _link(workspace, r["conversation_id"], query=query) for r in found
        },
    )


@router.get("/inbox/resolutions/{workspace}/{conversation_id}")
async def transcript_page(request: Request, workspace: str, conversation_id: str) -> Response:
    user = await _page_user(request, "supervisor")
    if isinstance(user, Response):
        return user
    return await _transcript(request, user, workspace, conversation_id)


async def _transcript(
    request: Request,
    user: StaffUser,
    workspace: str,
    conversation_id: str,
    *,
    problem: RequestError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    services = services_of(request)
    base = _base(request, user, "dashboard")
    query = _filters_of(request.query_params)
    try:
        services.workspace(workspace)
        require_workspace(user, workspace)
        found = await resolution_agreement.verdicts(services.store, workspace, conversation_id)
        history = await services.store.list_messages(conversation_id, limit=SHOWN_MESSAGES)
    except RequestError as error:
        return render(
            "error.html", error.status_code, **base, title="Not available", message=error.message
        )
    given = form or {}
    return render(
        "resolution.html",
        problem.status_code if problem else 200,
        **base,
        workspace=workspace,
        conversation=found,
        messages=history,
        cut=len(history) >= SHOWN_MESSAGES,
        labels=VERDICT_LABELS,
        problem=problem.message if problem else None,
        verdict=given.get("verdict") or found["human_verdict"] or "",
        note=given.get("note", found["human_reason"] or ""),
        max_note=resolution_agreement.MAX_REASON,
        action=_link(workspace, conversation_id, query=query),
        back=_link(workspace, query=query),
    )


@router.post(
    "/inbox/resolutions/{workspace}/{conversation_id}", dependencies=[Depends(verify_csrf)]
)
async def review_form(request: Request, workspace: str, conversation_id: str) -> Response:
    """The transcript page's form: ``verdict`` (resolved / not_resolved) and ``note``."""
    user = await _page_user(request, "supervisor")
    if isinstance(user, Response):
        return user
    form = await submitted_form(request)
    try:
        await record_review(
            services_of(request), user, workspace, conversation_id,
            form.get("verdict", ""), form.get("note") or None,
        )  # fmt: skip
    except RequestError as error:
        return await _transcript(
            request, user, workspace, conversation_id, problem=error, form=form
        )
    query = {**_filters_of(request.query_params), "recorded": conversation_id}
    back = _link(workspace, query=query) + f"#c-{conversation_id}"
    return RedirectResponse(back, status_code=303, headers=HEADERS)
