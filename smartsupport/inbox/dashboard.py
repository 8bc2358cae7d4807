"""``/inbox/dashboard``: the analytics dashboard for supervisors and admins.

The page is built from the same report as ``GET /api/v1/analytics/.../report``
(``analytics_api.report_for``), so its numbers are the API's and the CSV's. Charts are
server-rendered SVG (``charts.py``); the filters are a plain GET form, so a filtered view is
a link that can be shared. Bad filters show the reason on the page (status 400).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from smartsupport.analytics_api import filters_for, report_for
from smartsupport.errors import RequestError
from smartsupport.inbox import charts
from smartsupport.inbox.pages import _base, _page_user, render

router = APIRouter(include_in_schema=False)
FILTER_NAMES = ("from", "to", "channel", "language", "intent")
SELECTED = ("channel", "language", "intent")  # chosen from the range's values


def _charts(report: dict[str, Any]) -> dict[str, Any]:
    trend = report["trend"]
    days = [d["date"] for d in trend]
    heat = report["intent_confidence"]
    return {
        "volume": charts.line_chart(
            days,
            [
                ("Conversations", [d["engaged"] for d in trend]),
                ("Automated resolutions", [d["automated_resolutions"] for d in trend]),
                ("Escalated", [d["escalated"] for d in trend]),
            ],
            title="Conversations per day",
        ),
        "rates": charts.line_chart(
            days,
            [
                ("Automated resolution", [d["automated_resolution_rate"] for d in trend]),
                ("Containment", [d["containment_rate"] for d in trend]),
                ("Escalation", [d["escalation_rate"] for d in trend]),
            ],
            title="Rates per day",
            percent=True,
        ),
        "cost": charts.line_chart(
            days, [("LLM cost", [d["llm_cost"] for d in trend])], title="LLM cost per day"
        ),
        "heatmap": charts.heatmap(
            heat["intents"], heat["buckets"], heat["counts"], title="Intent by confidence"
        ),
        "reasons": charts.bar_chart(
            [(r["reason"], r["count"]) for r in report["escalation_reasons"][:10]],
            title="Escalation reasons",
        ),
        "csat": charts.bar_chart(
            [(f"{k} ★", v) for k, v in report["csat_distribution"].items()],
            title="CSAT distribution",
        ),
        "articles": charts.bar_chart(
            [
                (a["title"] or a["article_id"], a["helpfulness"])
                for a in report["articles"][:10]
                if a["helpfulness"] is not None
            ],
            title="Article helpfulness (share of thumbs up)",
            percent=True,
        ),
    }


@router.get("/inbox/dashboard")
async def dashboard_page(request: Request) -> Response:
    user = await _page_user(request, "supervisor")
    if isinstance(user, Response):
        return user
    params = dict(request.query_params)
    workspace_id = params.pop("workspace", None) or (user.workspaces or [""])[0]
    context: dict[str, Any] = {
        **_base(request, user, "dashboard"),
        "workspace": workspace_id,
        "workspaces": user.workspaces,
        "params": {k: params.get(k, "") for k in FILTER_NAMES},
        "problem": None,
        "report": None,
        "choices": {},
    }
    try:
        filters = filters_for(request, user, workspace_id, params)
        report = await report_for(request, filters)
    except RequestError as error:
        context["problem"] = error.message
        return render("dashboard.html", error.status_code, **context)
    query = urlencode({k: v for k, v in params.items() if v})
    context.update(
        report=report,
        charts=_charts(report),
        # The filter choices: the values the range's conversations have ("(none)": unknown).
        choices={n: [k for k in report["by"][n] if k != "(none)"] for n in SELECTED},
        export=f"/api/v1/analytics/workspaces/{workspace_id}/conversations.csv"
        + (f"?{query}" if query else ""),
        resolutions=f"/inbox/resolutions/{workspace_id}" + (f"?{query}" if query else ""),
    )
    return render("dashboard.html", **context)
