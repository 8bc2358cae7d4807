"""The knowledge-base admin API: list, create, read, update and delete help articles.

    GET    /api/v1/admin/workspaces/{workspace}/articles          ?limit=&offset=&locale=
    POST   /api/v1/admin/workspaces/{workspace}/articles
           {title, body, url?, locale?, external_id?}
    GET    /api/v1/admin/workspaces/{workspace}/articles/{id}
    PUT    /api/v1/admin/workspaces/{workspace}/articles/{id}     any of {title, body, url, locale}
    DELETE /api/v1/admin/workspaces/{workspace}/articles/{id}
    POST   /api/v1/admin/workspaces/{workspace}/articles/ingest   202: a job ingests the
           workspace's articles/ folder (knowledge/ingest_jobs.py); Idempotency-Key optional
    GET    /api/v1/admin/workspaces/{workspace}/articles/jobs/{job_id}   that job's status

The router takes its collaborators as callables so the application decides where they come
from: ``get_kb(request)`` returns the KnowledgeBase, ``authorize`` is any FastAPI dependency
(``bearer_token(...)`` below until staff accounts exist) and ``workspace_exists`` turns
unknown workspaces into 404s. Errors are ``smartsupport.errors`` and rendered by the app's
error handlers.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route annotations at
# definition time, and they refer to the dependency built inside ``create_router``.
import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from smartsupport import jobs
from smartsupport.api_docs import errors
from smartsupport.errors import NotFound, Unauthorized
from smartsupport.job_status import JobOut, accepted, job_out
from smartsupport.knowledge import ingest_jobs
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.limits import MAX_SEQ
from smartsupport.services import Services
from smartsupport.staff.audited import actor

PREFIX = "/api/v1/admin/workspaces/{workspace}/articles"


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=500_000, description="Markdown text")
    url: str | None = Field(default=None, max_length=2000)
    locale: str = Field(default="en", min_length=2, max_length=20)
    external_id: str | None = Field(default=None, min_length=1, max_length=300)


class ArticleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=500)
    body: str | None = Field(default=None, min_length=1, max_length=500_000)
    url: str | None = Field(default=None, max_length=2000)
    locale: str | None = Field(default=None, min_length=2, max_length=20)


class ArticleOut(BaseModel):
    """An article (``Article.as_dict``)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    external_id: str
    title: str
    body: str
    source: str = Field(description="Where it came from: api, a file path, a Zendesk export.")
    url: str | None
    locale: str
    content_hash: str
    created_at: str
    updated_at: str
    passages: int = Field(description="How many searchable passages it was split into.")


class ArticleSummaryOut(BaseModel):
    """An article without its body, as lists show it."""

    model_config = ConfigDict(extra="forbid")
    id: str
    external_id: str
    title: str
    source: str
    url: str | None
    locale: str
    content_hash: str
    created_at: str
    updated_at: str
    passages: int


class ArticleListOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    articles: list[ArticleSummaryOut]
    limit: int
    offset: int


AUTHORIZED = (401, 403, 404, 503)  # the authorize dependency, an unknown workspace


def bearer_token(expected: Callable[[Request], str | None]) -> Callable[[Request], None]:
    """A dependency accepting ``Authorization: Bearer <token>`` when the token equals
    ``expected(request)``. With no token configured the admin API refuses everyone."""

    def check(request: Request) -> None:
        token = expected(request)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if not token:
            raise Unauthorized("the admin API is disabled: no admin token is configured")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise Unauthorized("missing or wrong admin token (Authorization: Bearer <token>)")

    return check


def _job_url(workspace: str, job_id: str) -> str:
    return PREFIX.format(workspace=workspace) + f"/jobs/{job_id}"


def create_router(
    get_kb: Callable[[Request], KnowledgeBase],
    authorize: Callable[..., Any],
    workspace_exists: Callable[[Request, str], bool] | None = None,
) -> APIRouter:
    def kb_for(request: Request, workspace: str) -> KnowledgeBase:
        if workspace_exists is not None and not workspace_exists(request, workspace):
            raise NotFound(f"no workspace {workspace!r}")
        return get_kb(request)

    KB = Annotated[KnowledgeBase, Depends(kb_for)]
    router = APIRouter(prefix=PREFIX, tags=["knowledge base"], dependencies=[Depends(authorize)])

    @router.get(
        "",
        response_model=ArticleListOut,
        operation_id="listArticles",
        responses=errors(*AUTHORIZED, 422),
    )
    async def list_articles(
        workspace: str,
        kb: KB,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
        locale: Annotated[str | None, Query(max_length=20)] = None,
    ) -> dict[str, Any]:
        """Articles ordered by title, without their bodies."""
        articles = await kb.list_articles(workspace, limit=limit, offset=offset, locale=locale)
        rows = []
        for article in articles:
            row = article.as_dict()
            del row["body"]
            rows.append(row)
        return {"articles": rows, "limit": limit, "offset": offset}

    @router.post(
        "",
        status_code=201,
        response_model=ArticleOut,
        operation_id="createArticle",
        responses=errors(400, *AUTHORIZED, 409, 422),
    )
    async def create_article(workspace: str, article: ArticleIn, kb: KB) -> dict[str, Any]:
        created = await kb.create_article(workspace, **article.model_dump())
        return created.as_dict()

    @router.post(
        "/ingest",
        status_code=202,
        response_model=JobOut,
        operation_id="ingestArticles",
        responses=errors(*AUTHORIZED, 422),
    )
    async def ingest_articles(
        workspace: str,
        request: Request,
        kb: KB,
        by: Annotated[Any, Depends(authorize)],
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        """Ingest the workspace's articles/ folder in the background: new, changed and
        removed files, as at start-up. Asking again for an unchanged folder (or with the
        same ``Idempotency-Key``) answers with the same job. Every server answers from the
        new articles within seconds of the job's end."""
        services: Services = request.app.state.services
        job, _ = await ingest_jobs.ask(
            services,
            workspace,
            key=idempotency_key,
            requested_by=actor(by) if by is not None else None,
        )
        return await accepted(services, job, _job_url(workspace, job.id))

    @router.get(
        "/jobs/{job_id}",
        response_model=JobOut,
        operation_id="getArticlesJob",
        responses=errors(*AUTHORIZED),
    )
    async def get_job(workspace: str, job_id: str, request: Request, kb: KB) -> JobOut:
        """A knowledge job: queued, running (with progress), done (with the report) or
        failed (with why)."""
        services: Services = request.app.state.services
        job = await jobs.get(services.store, job_id)  # type: ignore[arg-type]
        if job is None or job.workspace_id != workspace or job.kind != ingest_jobs.KIND:
            raise NotFound(f"no knowledge job {job_id!r} in workspace {workspace!r}")
        return await job_out(services, job, _job_url(workspace, job.id))

    @router.get(
        "/{article_id}",
        response_model=ArticleOut,
        operation_id="getArticle",
        responses=errors(*AUTHORIZED),
    )
    async def get_article(workspace: str, article_id: str, kb: KB) -> dict[str, Any]:
        return (await kb.get_article(workspace, article_id)).as_dict()

    @router.patch(
        "/{article_id}",
        response_model=ArticleOut,
        operation_id="patchArticle",
        responses=errors(400, *AUTHORIZED, 422),
    )
    @router.put(
        "/{article_id}",
        response_model=ArticleOut,
        operation_id="updateArticle",
        responses=errors(400, *AUTHORIZED, 422),
    )
    async def update_article(
        workspace: str,
        article_id: str,
        changes: ArticleUpdate,
        kb: KB,
    ) -> dict[str, Any]:
        """Change the fields given; an empty ``url`` removes the link."""
        updated = await kb.update_article(
            workspace, article_id, **changes.model_dump(exclude_unset=True)
        )
        return updated.as_dict()

    @router.delete(
        "/{article_id}",
        status_code=204,
        operation_id="deleteArticle",
        responses=errors(*AUTHORIZED),
    )
    async def delete_article(workspace: str, article_id: str, kb: KB) -> Response:
        await kb.delete_article(workspace, article_id)
        return Response(status_code=204)

    return router
