"""The analytics API, for supervisors and admins of the workspace (docs/analytics.md):

    GET /api/v1/analytics/workspaces/{workspace}/report             every KPI, as JSON
    GET /api/v1/analytics/workspaces/{workspace}/conversations.csv  one row per conversation
    GET /api/v1/analytics/workspaces/{workspace}/resolution-checks  automated resolutions
        with the LLM check's and reviewers' verdicts
    PUT /api/v1/analytics/workspaces/{workspace}/conversations/{id}/resolution-review
        a reviewer's verdict (resolved / not_resolved), for the check's agreement

Filters (query string): ``from``, ``to`` (YYYY-MM-DD, ``to`` inclusive, or ISO 8601
date-times; default the last 30 days), ``channel``, ``language``, ``intent``. An unknown
filter, a bad date, an empty, reversed or future range is a 400 naming the fix. The CSV is
streamed page by page as the conversations are read: an export of millions of rows never
sits in memory. Both read the per-conversation rollup (``analytics_sums``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from smartsupport import resolution_agreement
from smartsupport.analytics import Filters, parse_filters
from smartsupport.analytics_report import CSV_COLUMNS, csv_row
from smartsupport.analytics_sums import csv_pages
from smartsupport.analytics_sums import report as rollup_report
from smartsupport.api_docs import STAFF, errors
from smartsupport.domain import utcnow
from smartsupport.services import Services
from smartsupport.staff import StaffUser, audited, require_role, require_workspace, verify_csrf

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
Supervisor = Annotated[StaffUser, Depends(require_role("supervisor"))]
FilterText = Annotated[str | None, Query(max_length=64)]


class AnalyticsReportOut(BaseModel):
    """Every KPI of the range (docs/analytics.md defines each field)."""

    model_config = ConfigDict(extra="forbid")
    filters: dict[str, Any]
    totals: dict[str, Any]
    timings_seconds: dict[str, Any]
    escalation_reasons: list[dict[str, Any]]
    csat_distribution: dict[str, int]
    by: dict[str, Any]
    trend: list[dict[str, Any]]
    intent_confidence: dict[str, Any]
    unanswered_questions: list[dict[str, Any]]
    articles: list[dict[str, Any]]
    resolution_check: dict[str, Any]


class ResolutionReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: str = Field(max_length=20, description="resolved or not_resolved")
    reason: str | None = Field(default=None, max_length=resolution_agreement.MAX_REASON)


class ResolutionReviewOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: str
    verdict: str
    reason: str | None
    reviewed_at: str


class ResolutionChecksOut(BaseModel):
    """The range's automated resolutions (newest first, at most 200) with both verdicts."""

    model_config = ConfigDict(extra="forbid")
    conversations: list[dict[str, Any]]


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def window(services: Services) -> timedelta:
    return timedelta(hours=services.settings.recontact_window_hours)


def filters_for(
    request: Request, user: StaffUser, workspace_id: str, params: dict[str, str] | None = None
) -> Filters:
    """The checked filters: 404 for an unknown workspace, 403 for another's, 400 for bad
    filters (the query string is read whole, so an unknown name is refused too)."""
    services_of(request).workspace(workspace_id)
    require_workspace(user, workspace_id)
    given = dict(request.query_params) if params is None else params
    return parse_filters(workspace_id, given, utcnow())


def checked_filters(
    request: Request,
    workspace_id: str,
    user: Supervisor,
    from_: Annotated[
        str | None, Query(alias="from", max_length=40, description="YYYY-MM-DD or ISO 8601")
    ] = None,
    to: Annotated[
        str | None, Query(max_length=40, description="YYYY-MM-DD (inclusive) or ISO 8601")
    ] = None,
    channel: FilterText = None,
    language: FilterText = None,
    intent: FilterText = None,
) -> Filters:
    """The routes' filters as one dependency. The parameters are declared so the API
    description lists them; ``filters_for`` reads the query string whole, so an unknown
    name is refused rather than ignored."""
    return filters_for(request, user, workspace_id)


CheckedFilters = Annotated[Filters, Depends(checked_filters)]


async def record_review(
    services: Services,
    user: StaffUser,
    workspace_id: str,
    conversation_id: str,
    verdict: str,
    reason: str | None,
) -> dict[str, Any]:
    """A reviewer's verdict, stored and audited: the API's PUT and the inbox page's form
    (inbox/resolution_page.py) both record through here."""
    services.workspace(workspace_id)
    require_workspace(user, workspace_id)
    stored = await resolution_agreement.review(
        services.store, workspace_id, conversation_id, verdict, reason, user.id
    )
    await audited.action(
        services.store, "analytics.resolution_reviewed", by=user,
        target=f"conversation:{conversation_id}", workspace_id=workspace_id,
        details={"verdict": verdict},
    )  # fmt: skip
    return stored


async def report_for(request: Request, filters: Filters) -> dict[str, Any]:
    services = services_of(request)
    now = utcnow()
    body = await rollup_report(services.store, filters, window(services), now)
    body["resolution_check"] = await resolution_agreement.summary(
        services.store, filters, window(services), now,
        enabled=services.settings.resolution_check,
    )  # fmt: skip
    return body


@router.get(
    "/workspaces/{workspace_id}/report",
    response_model=AnalyticsReportOut,
    operation_id="getAnalyticsReport",
    responses=errors(400, *STAFF, 404, 422),
)
async def report(request: Request, filters: CheckedFilters) -> dict[str, Any]:
    """Every KPI of the workspace's conversations created in the range: totals, by channel,
    language and intent, by day, timings, escalation reasons, CSAT, intent x confidence,
    unanswered questions, article helpfulness, LLM tokens and cost."""
    return await report_for(request, filters)


@router.get("/workspaces/{workspace_id}/conversations.csv", include_in_schema=False)
async def conversations_csv(request: Request, filters: CheckedFilters) -> Any:
    """One CSV row per conversation (columns: ``analytics_report.CSV_COLUMNS``), streamed."""
    workspace_id = filters.workspace_id
    services = services_of(request)
    now = utcnow()

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        async for page in csv_pages(services.store, filters, window(services), now):
            for facts in page:
                writer.writerow(csv_row(facts))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    name = f"{workspace_id}-conversations-{filters.start.date()}-{filters.end.date()}.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/workspaces/{workspace_id}/resolution-checks",
    response_model=ResolutionChecksOut,
    operation_id="listResolutionChecks",
    responses=errors(400, *STAFF, 404, 422),
)
async def resolution_checks(request: Request, filters: CheckedFilters) -> dict[str, Any]:
    """The automated resolutions of the range with the LLM check's verdict and reason and
    the reviewer's verdict, for reviewers to judge (docs/analytics.md)."""
    services = services_of(request)
    found = await resolution_agreement.listing(services.store, filters, window(services), utcnow())
    return {"conversations": found}


@router.put(
    "/workspaces/{workspace_id}/conversations/{conversation_id}/resolution-review",
    response_model=ResolutionReviewOut,
    operation_id="reviewResolution",
    dependencies=[Depends(verify_csrf)],
    responses=errors(400, *STAFF, 404, 422),
)
async def review_resolution(
    request: Request,
    workspace_id: str,
    conversation_id: str,
    body: ResolutionReviewIn,
    user: Supervisor,
) -> dict[str, Any]:
    """A reviewer's verdict on whether the conversation resolved the customer's issue
    (replaces their earlier one); the report compares it with the LLM check's."""
    return await record_review(
        services_of(request), user, workspace_id, conversation_id, body.verdict, body.reason
    )
