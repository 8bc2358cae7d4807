"""``/api/v1/review/{workspace}/...``: the review queue, retraining, bootstrap imports,
experiments and shadow mode as a JSON API for supervisors and admins (session cookie and
CSRF header, or an API key acting for one). The inbox page (page.py) calls the same
actions (``actions.ReviewContext``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from smartsupport import jobs
from smartsupport.api_docs import STAFF, errors
from smartsupport.errors import NotFound
from smartsupport.job_status import JobOut, accepted, job_out
from smartsupport.review import bootstrap, experiments, retrain_jobs, shadow
from smartsupport.review.actions import ReviewContext
from smartsupport.review.store import ReviewStore
from smartsupport.review.wire import (
    ExperimentResultsOut,
    ExperimentsOut,
    ReviewAgreementOut,
    ReviewArticleAcceptedOut,
    ReviewDecidedOut,
    ReviewImportOut,
    ReviewIntentAcceptedOut,
    ReviewModelsOut,
    ReviewQueueOut,
    ReviewSuggestionsOut,
)
from smartsupport.staff import StaffUser, require_role, verify_csrf

router = APIRouter(
    prefix="/api/v1/review/{workspace}", tags=["review"], dependencies=[Depends(verify_csrf)]
)
Supervisor = Annotated[StaffUser, Depends(require_role("supervisor"))]


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_ids: list[Annotated[str, Field(max_length=64)]] = Field(max_length=2000)
    action: str = Field(max_length=20)
    intent: str | None = Field(default=None, max_length=80)


class ReviewRetrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shadow: bool = False


class ReviewAcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=500)
    answer: str | None = Field(default=None, max_length=20000)


class ExperimentVariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=40)
    text: str | None = Field(
        default=None, max_length=2000, description="The variant's response; null: the control."
    )
    flow: str | None = Field(
        default=None,
        max_length=80,
        description="Instead of a text: the flow (of flows.yaml) this variant starts where the"
        " intent starts a flow (a flow experiment). The control gives neither.",
    )
    weight: float = Field(default=1.0, gt=0, le=1000)


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=120)
    intent: str = Field(max_length=80)
    variants: list[ExperimentVariantIn] = Field(min_length=2, max_length=10)


class ExperimentPromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variant: str = Field(max_length=40)


@router.get(
    "/queue",
    response_model=ReviewQueueOut,
    operation_id="reviewQueue",
    responses=errors(*STAFF, 404, 422),
)
async def queue(
    workspace: str, request: Request, user: Supervisor, days: int = Query(30, ge=1, le=366)
) -> ReviewQueueOut:
    ctx = ReviewContext.of(request, user, workspace)
    clusters = await ctx.queue(days)
    return ReviewQueueOut.model_validate(
        {
            "clusters": [c.as_json() for c in clusters],
            "intents": await ctx.intents(),
            "messages": sum(c.size for c in clusters),
        }
    )


@router.post(
    "/decisions",
    response_model=ReviewDecidedOut,
    operation_id="reviewDecide",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def decisions(
    workspace: str, body: ReviewDecisionIn, request: Request, user: Supervisor
) -> ReviewDecidedOut:
    ctx = ReviewContext.of(request, user, workspace)
    n = await ctx.decide(body.message_ids, body.action, body.intent)
    return ReviewDecidedOut(decided=n)


@router.post(
    "/retrain",
    status_code=202,
    response_model=JobOut,
    operation_id="reviewRetrain",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def retrain_model(
    workspace: str,
    request: Request,
    user: Supervisor,
    body: ReviewRetrainIn | None = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Retrain in the background (202): the job trains, evaluates against the live model and
    deploys the candidate unless it is worse; its result is the model record. Asking again
    before the decisions change (or with the same ``Idempotency-Key``) gives the same job."""
    ctx = ReviewContext.of(request, user, workspace)
    job = await ctx.retrain(shadow_only=bool(body and body.shadow), key=idempotency_key)
    return await accepted(ctx.services, job, _job_url(workspace, job.id))


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    operation_id="reviewJob",
    responses=errors(*STAFF, 404),
)
async def retrain_job(workspace: str, job_id: str, request: Request, user: Supervisor) -> JobOut:
    """A retraining job: queued, running, done (``result.model``) or failed (with why)."""
    ctx = ReviewContext.of(request, user, workspace)
    job = await jobs.get(ctx.store, job_id)  # type: ignore[arg-type]
    if job is None or job.workspace_id != workspace or job.kind != retrain_jobs.KIND:
        raise NotFound(f"no retraining job {job_id!r} in workspace {workspace!r}")
    return await job_out(ctx.services, job, _job_url(workspace, job.id))


def _job_url(workspace: str, job_id: str) -> str:
    return f"/api/v1/review/{workspace}/jobs/{job_id}"


@router.get(
    "/models",
    response_model=ReviewModelsOut,
    operation_id="reviewModels",
    responses=errors(*STAFF, 404),
)
async def models(workspace: str, request: Request, user: Supervisor) -> ReviewModelsOut:
    ctx = ReviewContext.of(request, user, workspace)
    found = await ReviewStore(ctx.store).models(workspace)
    return ReviewModelsOut.model_validate({"models": [m.as_json() for m in found]})


@router.post(
    "/models/{model_id}/shadow",
    response_model=ReviewAgreementOut,
    operation_id="reviewShadowModel",
    responses=errors(*STAFF, 404, 409),
)
async def shadow_model(
    workspace: str, model_id: str, request: Request, user: Supervisor
) -> ReviewAgreementOut:
    ctx = ReviewContext.of(request, user, workspace)
    await ctx.set_shadow(model_id)
    return ReviewAgreementOut.model_validate(await shadow.agreement(ctx.store, workspace, model_id))


@router.delete(
    "/shadow", status_code=204, operation_id="reviewStopShadow", responses=errors(*STAFF, 404)
)
async def stop_shadow(workspace: str, request: Request, user: Supervisor) -> Response:
    await ReviewContext.of(request, user, workspace).set_shadow(None)
    return Response(status_code=204)


@router.get(
    "/models/{model_id}/agreement",
    response_model=ReviewAgreementOut,
    operation_id="reviewShadowAgreement",
    responses=errors(*STAFF, 404),
)
async def agreement(
    workspace: str, model_id: str, request: Request, user: Supervisor
) -> ReviewAgreementOut:
    ctx = ReviewContext.of(request, user, workspace)
    if await ReviewStore(ctx.store).model(workspace, model_id) is None:
        raise NotFound(f"no retrained model {model_id!r} in workspace {workspace!r}")
    return ReviewAgreementOut.model_validate(await shadow.agreement(ctx.store, workspace, model_id))


@router.post(
    "/imports",
    response_model=ReviewImportOut,
    operation_id="reviewImportHistory",
    responses=errors(400, *STAFF, 404, 413, 422),
)
async def import_history(
    workspace: str,
    request: Request,
    user: Supervisor,
    name: str = Query(..., min_length=1, max_length=200, description="the file's name"),
) -> ReviewImportOut:
    """The raw file as the body: a Zendesk ticket export (JSON) or a .csv of conversations."""
    ctx = ReviewContext.of(request, user, workspace)
    return ReviewImportOut.model_validate(await ctx.import_history(name, await request.body()))


@router.get(
    "/suggestions",
    response_model=ReviewSuggestionsOut,
    operation_id="reviewSuggestions",
    responses=errors(*STAFF, 404),
)
async def suggestions(workspace: str, request: Request, user: Supervisor) -> ReviewSuggestionsOut:
    ctx = ReviewContext.of(request, user, workspace)
    rows = await bootstrap.suggestions(ctx.store, workspace)
    return ReviewSuggestionsOut.model_validate({"suggestions": [_suggestion(r) for r in rows]})


def _suggestion(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in row.items()
        if k != "workspace_id"
    }


@router.post(
    "/suggestions/{suggestion_id}/accept",
    response_model=ReviewIntentAcceptedOut | ReviewArticleAcceptedOut,
    operation_id="reviewAcceptSuggestion",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def accept(
    workspace: str,
    suggestion_id: str,
    request: Request,
    user: Supervisor,
    body: ReviewAcceptIn | None = None,
) -> ReviewIntentAcceptedOut | ReviewArticleAcceptedOut:
    """An intent suggestion answers what it decided, an FAQ suggestion the article."""
    ctx = ReviewContext.of(request, user, workspace)
    written = await ctx.accept(
        suggestion_id, body.name if body else None, body.answer if body else None
    )
    if "article_id" in written:
        return ReviewArticleAcceptedOut.model_validate(written)
    return ReviewIntentAcceptedOut.model_validate(written)


@router.post(
    "/suggestions/{suggestion_id}/reject",
    status_code=204,
    operation_id="reviewRejectSuggestion",
    responses=errors(*STAFF, 404, 409),
)
async def reject(
    workspace: str, suggestion_id: str, request: Request, user: Supervisor
) -> Response:
    ctx = ReviewContext.of(request, user, workspace)
    await ctx.reject(suggestion_id)
    return Response(status_code=204)


# The experiment routes leave unset fields out (response_model_exclude_unset): the control's
# figures have no ``versus_control`` at all, as experiments.results builds them.
async def _results(ctx: ReviewContext, experiment: experiments.Experiment) -> ExperimentResultsOut:
    return ExperimentResultsOut.model_validate(await experiments.results(ctx.store, experiment))


@router.get(
    "/experiments",
    response_model=ExperimentsOut,
    response_model_exclude_unset=True,
    operation_id="listExperiments",
    responses=errors(*STAFF, 404),
)
async def list_experiments(workspace: str, request: Request, user: Supervisor) -> ExperimentsOut:
    ctx = ReviewContext.of(request, user, workspace)
    found = await experiments.list_experiments(ctx.store, workspace)
    return ExperimentsOut(experiments=[await _results(ctx, e) for e in found])


@router.post(
    "/experiments",
    status_code=201,
    response_model=ExperimentResultsOut,
    response_model_exclude_unset=True,
    operation_id="createExperiment",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def create_experiment(
    workspace: str, body: ExperimentIn, request: Request, user: Supervisor
) -> ExperimentResultsOut:
    ctx = ReviewContext.of(request, user, workspace)
    created = await ctx.start_experiment(
        body.name, body.intent,
        [experiments.Variant(v.name, v.text, v.weight, v.flow) for v in body.variants],
    )  # fmt: skip
    return await _results(ctx, created)


@router.get(
    "/experiments/{experiment_id}",
    response_model=ExperimentResultsOut,
    response_model_exclude_unset=True,
    operation_id="getExperiment",
    responses=errors(*STAFF, 404),
)
async def experiment(
    workspace: str, experiment_id: str, request: Request, user: Supervisor
) -> ExperimentResultsOut:
    ctx = ReviewContext.of(request, user, workspace)
    return await _results(ctx, await experiments.get(ctx.store, workspace, experiment_id))


@router.post(
    "/experiments/{experiment_id}/promote",
    response_model=ExperimentResultsOut,
    response_model_exclude_unset=True,
    operation_id="promoteExperimentVariant",
    responses=errors(400, *STAFF, 404, 422),
)
async def promote(
    workspace: str,
    experiment_id: str,
    body: ExperimentPromoteIn,
    request: Request,
    user: Supervisor,
) -> ExperimentResultsOut:
    ctx = ReviewContext.of(request, user, workspace)
    return await _results(ctx, await ctx.promote(experiment_id, body.variant))


@router.post(
    "/experiments/{experiment_id}/stop",
    response_model=ExperimentResultsOut,
    response_model_exclude_unset=True,
    operation_id="stopExperiment",
    responses=errors(*STAFF, 404),
)
async def stop(
    workspace: str, experiment_id: str, request: Request, user: Supervisor
) -> ExperimentResultsOut:
    ctx = ReviewContext.of(request, user, workspace)
    return await _results(ctx, await ctx.stop(experiment_id))
