"""``/inbox/review``: the review page of the inbox, for supervisors and admins.

Server-rendered like the other inbox pages. Each form posts to a route here that calls the
same functions as the JSON API (api.py) and redirects back with a notice; a refused action
(an intent that no longer exists, an empty selection, a malformed import) renders the page
again with the reason and the status it deserves, never a 500. The import form is the one
piece of script (static/review.js): the file goes to the JSON API as the request body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.responses import RedirectResponse, Response

from smartsupport import jobs
from smartsupport.errors import InvalidInput, RequestError
from smartsupport.inbox.pages import HEADERS, _base, _page_user, render
from smartsupport.review import bootstrap, experiments, shadow
from smartsupport.review.actions import ReviewContext
from smartsupport.review.queue import REASON_LABELS
from smartsupport.review.store import ReviewStore
from smartsupport.staff import StaffUser, verify_csrf

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"review.js": "text/javascript", "review.css": "text/css"}


MAX_FORM_BYTES = 256 * 1024  # a cluster's message ids fit
# A retraining of the demo's size ends well within this; proxies often cut at 60 s.
PAGE_WAIT_SECONDS = 55.0


class Form:
    """An urlencoded form with repeated fields (python-multipart is not a dependency)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    def getlist(self, name: str) -> list[str]:
        return self.fields.get(name, [])


async def read_form(request: Request) -> Form:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        # Like staff.deps.submitted_form: no fields, so the sign-in and role checks answer
        # first and a missing field is then reported as such (never an unhandled error).
        return Form({})
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("the form is too large; decide about fewer messages at once")
    return Form(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))


def _workspace(request: Request, user: StaffUser, given: str | None = None) -> str:
    chosen = given or request.query_params.get("workspace") or ""
    if not chosen and user.workspaces:
        chosen = user.workspaces[0]
    return chosen


def _back(workspace: str, notice: str, **extra: str) -> RedirectResponse:
    query = urlencode({"workspace": workspace, "notice": notice, **extra})
    return RedirectResponse(f"/inbox/review?{query}", status_code=303)


@router.get("/inbox/review")
async def review_page(request: Request) -> Response:
    user = await _page_user(request, "supervisor")
    if isinstance(user, Response):
        return user
    return await _render(request, user, _workspace(request, user))


async def _render(
    request: Request,
    user: StaffUser,
    workspace: str,
    *,
    problem: RequestError | None = None,
) -> Response:
    base = _base(request, user, "review")
    try:
        days = int(request.query_params.get("days") or 30)
    except ValueError:
        days = 0  # review_queue names the allowed range
    try:
        ctx = ReviewContext.of(request, user, workspace)
        clusters = await ctx.queue(days)
        store = ReviewStore(ctx.store)
        found = await experiments.list_experiments(ctx.store, workspace)
        models = await store.models(workspace)
        shadowed = next((m for m in models if m.status == "shadow"), None)
        context: dict[str, Any] = {
            "workspace": workspace,
            "days": days,
            "clusters": clusters,
            "reason_labels": REASON_LABELS,
            "intents": await ctx.intents(),
            "flows": ctx.flows(),
            "models": models,
            "agreement": (
                await shadow.agreement(ctx.store, workspace, shadowed.id) if shadowed else None
            ),
            "suggestions": await bootstrap.suggestions(ctx.store, workspace),
            "experiments": [await experiments.results(ctx.store, e) for e in found],
        }
    except RequestError as exc:
        return render(
            "error.html", exc.status_code, **base, title="Review unavailable", message=exc.message
        )
    return render(
        "review.html",
        problem.status_code if problem else 200,
        **base,
        **context,
        workspaces=user.workspaces,
        notice=request.query_params.get("notice"),
        problem=problem.message if problem else None,
    )


async def _act(request: Request, workspace: str, action: Any) -> Response:
    """Run a form's action: redirect back with its notice, or show the page with why not."""
    user = await _page_user(request, "supervisor")
    if isinstance(user, Response):
        return user
    try:
        form = await read_form(request)
        ctx = ReviewContext.of(request, user, workspace)
        notice = await action(ctx, form)
    except RequestError as exc:
        return await _render(request, user, workspace, problem=exc)
    return _back(workspace, notice)


def _ids(form: Form) -> list[str]:
    ids = [str(v) for v in form.getlist("message_id")]
    if form.get("include_rest"):
        ids += [str(v) for v in form.getlist("rest_id")]
    return ids


@router.post("/inbox/review/{workspace}/decide", dependencies=[Depends(verify_csrf)])
async def decide_form(request: Request, workspace: str) -> Response:
    async def action(ctx: ReviewContext, form: Form) -> str:
        what = str(form.get("action") or "")
        intent = str(form.get("new_intent") if what == "new_intent" else form.get("intent") or "")
        n = await ctx.decide(_ids(form), what, intent)
        return f"{n} message(s) decided: {what.replace('_', ' ')} {intent}".strip()

    return await _act(request, workspace, action)


@router.post("/inbox/review/{workspace}/retrain", dependencies=[Depends(verify_csrf)])
async def retrain_form(request: Request, workspace: str) -> Response:
    async def action(ctx: ReviewContext, form: Form) -> str:
        job = await ctx.retrain(shadow_only=bool(form.get("shadow")))
        # A job (review/retrain_jobs.py): the page waits a little for its outcome, and
        # otherwise says it runs; the models list shows the outcome once it is done.
        job = await jobs.wait(ctx.store, job.id, PAGE_WAIT_SECONDS)  # type: ignore[arg-type]
        if job.status == "done" and job.result is not None:
            return f"Retrained: {job.result['model']['reason']}"
        if job.status == "failed":
            raise RequestError(f"Retraining failed: {job.error}")
        return f"Retraining {job.status} (job {job.id}); the models below show its outcome"

    return await _act(request, workspace, action)


@router.post("/inbox/review/{workspace}/shadow", dependencies=[Depends(verify_csrf)])
async def shadow_form(request: Request, workspace: str) -> Response:
    async def action(ctx: ReviewContext, form: Form) -> str:
        model_id = str(form.get("model_id") or "") or None
        await ctx.set_shadow(model_id)
        return "Shadow mode started" if model_id else "Shadow mode stopped"

    return await _act(request, workspace, action)


@router.post(
    "/inbox/review/{workspace}/suggestions/{suggestion_id}", dependencies=[Depends(verify_csrf)]
)
async def suggestion_form(request: Request, workspace: str, suggestion_id: str) -> Response:
    async def action(ctx: ReviewContext, form: Form) -> str:
        if form.get("decision") == "reject":
            await ctx.reject(suggestion_id)
            return "Suggestion rejected"
        written = await ctx.accept(
            suggestion_id, form.get("name") or None, form.get("answer") or None
        )
        if "article_id" in written:
            return f"Article created: {written['title']}"
        return (
            f"{written['examples']} example(s) added to intent {written['intent']}; "
            "retrain to use them"
        )

    return await _act(request, workspace, action)


@router.post("/inbox/review/{workspace}/experiments", dependencies=[Depends(verify_csrf)])
async def experiment_form(request: Request, workspace: str) -> Response:
    async def action(ctx: ReviewContext, form: Form) -> str:
        try:
            share = float(str(form.get("share_b") or 50))
        except ValueError:
            share = -1.0
        if not 0 < share < 100:
            raise InvalidInput("the share of variant B must be a number between 0 and 100")
        if form.get("kind_b") == "flow":  # B starts another flow than the intent's
            b = experiments.Variant("B", None, share, str(form.get("flow_b") or ""))
        else:
            b = experiments.Variant("B", str(form.get("text_b") or ""), share)
        created = await ctx.start_experiment(
            form.get("name") or "", form.get("intent") or "",
            [experiments.Variant("A", None, 100 - share), b],
        )  # fmt: skip
        return f"Experiment started: {created.name}"

    return await _act(request, workspace, action)


@router.post(
    "/inbox/review/{workspace}/experiments/{experiment_id}", dependencies=[Depends(verify_csrf)]
)
async def experiment_action(request: Request, workspace: str, experiment_id: str) -> Response:
    async def action(ctx: ReviewContext, form: Form) -> str:
        if form.get("do") == "stop":
            done = await ctx.stop(experiment_id)
            return f"Experiment stopped: {done.name}"
        variant = str(form.get("variant") or "")
        await ctx.promote(experiment_id, variant)
        return f"Variant {variant} promoted: every conversation gets it now"

    return await _act(request, workspace, action)


@router.get("/inbox/review/static/{name}")
async def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response(status_code=404, headers=HEADERS)
    return FileResponse(
        STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
    )
