"""``create_app(settings)``: the ASGI application. The lifespan opens and closes backends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from smartsupport import (
    __version__,
    api_docs,
    asyncapi,
    demo_shop,
    log_redaction,
    outbox_admin,
    privacy_api,
    proactive_api,
    stopping,
)
from smartsupport.assistant import Assistant
from smartsupport.channels import (
    api_routes,
    thumbs_inbound,
    twilio_webhook,
    web_api,
    web_attachments,
    web_socket,
    whatsapp_webhook,
)
from smartsupport.errors import BackendError, EncryptionError, RateLimited, RequestError
from smartsupport.helpdesk import webhooks
from smartsupport.http_telemetry import RequestTelemetry, watch_services
from smartsupport.http_telemetry import router as metrics_router
from smartsupport.inbox import routes as inbox_routes
from smartsupport.knowledge import api as knowledge_api
from smartsupport.limits import RequestLimits
from smartsupport.metrics import Metrics
from smartsupport.proxies import ProxyHeaders
from smartsupport.settings import Settings
from smartsupport.staff import StaffUser, require_role, require_workspace, verify_csrf
from smartsupport.staff import mfa as staff_mfa
from smartsupport.staff import routes as staff_routes
from smartsupport.telemetry import Telemetry
from smartsupport.tracing import open_tracing
from smartsupport.warm_up import encode_passages, warm_up
from smartsupport.wiring import assemble, readiness, shutdown
from smartsupport.worker import Worker

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("smartsupport")


def _build_routes(app: FastAPI) -> None:
    """FastAPI builds the routes of an included router (their parameters, dependencies and
    response models) on the first request that reaches them: 0.2-0.8 s for the first
    request after start, /readyz's or a customer's. A path no route has reaches them all."""
    scope = {"type": "http", "method": "GET", "path": "/\x00", "root_path": "", "headers": []}
    for route in app.router.routes:
        route.matches(scope)


def create_app(settings: Settings) -> FastAPI:
    log_redaction.install()  # before anything here can log a header, token or address
    shops = demo_shop.Shops()  # the demo data, shared by the mounted shop API and the flows
    # Metrics, spans and the request id of log lines (docs/observability.md); this app's own.
    metrics = Metrics() if settings.metrics_token else None
    telemetry = Telemetry(metrics, open_tracing(settings.tracing))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await assemble(settings, shops=shops)
        app.state.services = services
        services.telemetry = telemetry
        if telemetry.metrics is not None:
            watch_services(telemetry.metrics, services)
        assistant = services.assistant
        app.state.kb = assistant.knowledge if isinstance(assistant, Assistant) else None
        ahead = None
        if settings.warm_up:
            _build_routes(app)
            if isinstance(assistant, Assistant):
                # What the first turns would build on first use, built before /readyz says
                # ok; the passages' sentence vectors then, in the background (warm_up.py).
                log.info("warmed up in %.2f s", await warm_up(assistant))
                ahead = asyncio.create_task(encode_passages(assistant), name="encode-passages")
        app.state.encoding_ahead = ahead  # None when off
        # SMARTSUPPORT_JOBS=off (serve --no-jobs): `smartsupport worker` processes run them.
        worker = Worker(services).start() if settings.jobs else None
        try:
            yield
        finally:
            await stopping.stop(ahead)
            if worker is not None:
                await worker.stop()
            await shutdown(services)
            telemetry.close()

    app = FastAPI(
        title="smartsupport",
        version=__version__,
        description="Self-hostable AI customer-support assistant: the web channel API. Every "
        'error is `{"error": {"code": "...", "message": "..."}}`; the WebSocket frames are '
        "described in AsyncAPI at /asyncapi.json.",
        lifespan=lifespan,
        generate_unique_id_function=api_docs.operation_id,
    )
    app.openapi = lambda: api_docs.openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.shops = shops
    app.state.telemetry = telemetry
    # Added first, so innermost: the widget's socket is served below the middleware above
    # (request id, client address, limits) but without the router's per-connection stack.
    app.add_middleware(web_socket.WidgetSockets)
    # The widget runs on the business's own site and authenticates with a bearer token, never
    # a cookie, so any origin may call the API; credentials stay off, which keeps staff
    # cookies out of cross-origin requests.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )
    # Added last, so outermost: the client address is settled first, then oversized or
    # unstorable input is refused before routing, authentication or any read of the body.
    app.add_middleware(ProxyHeaders, trusted=settings.trusted_proxies)
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_body_bytes,
        upload_body_bytes=settings.upload_body_bytes,
    )
    # Outermost of all: every answer carries the request id and is timed, refusals included.
    app.add_middleware(RequestTelemetry, telemetry=telemetry)
    _install_error_handlers(app)
    app.include_router(web_api.router)
    app.include_router(web_socket.router)
    app.include_router(web_attachments.router)  # the widget's uploads and downloads
    app.include_router(staff_routes.router)
    # A role that requires MFA holds its unverified sessions at enrolment (pages redirect).
    app.add_exception_handler(staff_mfa.MfaEnrolmentRequired, staff_mfa.held_at_enrolment)
    app.include_router(inbox_routes.router)
    app.include_router(webhooks.router)
    # Messaging channels and proactive messages (docs/channels.md)
    app.include_router(whatsapp_webhook.router)
    app.include_router(thumbs_inbound.router)  # thumbs by email link (docs/channels.md)
    app.include_router(twilio_webhook.router)
    app.include_router(api_routes.router)
    app.include_router(proactive_api.router)
    app.include_router(outbox_admin.router)
    app.include_router(privacy_api.router)  # export, erasure, consent, audit log
    app.include_router(metrics_router)
    app.include_router(
        knowledge_api.create_router(
            lambda request: request.app.state.kb, _workspace_admin, _workspace_exists
        )
    )
    if settings.demo:
        shop_api = demo_shop.demo_app(shops, public=settings.demo_shop_public)
        app.mount(demo_shop.DEMO_SHOP_PATH, shop_api)

    @app.get("/healthz", tags=["operations"], operation_id="getHealth")
    async def healthz() -> Health:
        """The process is alive."""
        return Health(status="ok", version=__version__)

    @app.get(
        "/readyz",
        tags=["operations"],
        operation_id="getReadiness",
        response_model=None,
        responses={
            200: {"model": Readiness},
            503: {"model": Readiness, "description": "A backend does not answer."},
        },
    )
    async def readyz(request: Request) -> JSONResponse:
        """Every backend answers."""
        states = await readiness(request.app.state.services)
        # An event broker that does not answer leaves chats working (events wait in the
        # outbox): it says why, but must not take the process out of its load balancer.
        events = states.pop("events", None)
        ok = all(state == "ok" for state in states.values())
        status = "ok" if ok else "unavailable"
        if events is not None:
            states["events"] = events
            status = "degraded" if ok and events != "ok" else status
        return JSONResponse({"status": status, **states}, 200 if ok else 503)

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_document() -> JSONResponse:
        """The WebSocket protocols (AsyncAPI 3.0), beside /openapi.json."""
        return JSONResponse(asyncapi.document(__version__))

    @app.get("/", include_in_schema=False)
    async def demo_page() -> FileResponse:
        return FileResponse(STATIC / "demo.html", media_type="text/html")

    @app.get("/widget.js", include_in_schema=False)
    async def widget_loader() -> FileResponse:
        return FileResponse(
            STATIC / "widget.js",
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    @app.get("/widget/app.js", include_in_schema=False)
    async def widget_app() -> FileResponse:
        return FileResponse(
            STATIC / "widget-app.js",
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str
    version: str


class Readiness(BaseModel):
    """``ok``, or ``unavailable: <why>`` for each backend. ``status`` is ``degraded`` (still
    200) when only the event broker is unavailable; ``events`` is there when
    SMARTSUPPORT_EVENTS_URL is set."""

    model_config = ConfigDict(extra="forbid")
    status: str
    database: str
    backplane: str
    events: str | None = None


async def _workspace_admin(
    workspace: str,
    user: Annotated[StaffUser, Depends(require_role("admin"))],
    _csrf: Annotated[None, Depends(verify_csrf)],
) -> StaffUser:
    """Admins of this workspace only; cookie sessions must carry the CSRF token."""
    require_workspace(user, workspace)
    return user


def _workspace_exists(request: Request, workspace: str) -> bool:
    return workspace in request.app.state.services.workspaces


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        return _error(exc.status_code, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems: list[str] = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            if err.get("type") == "json_invalid":
                return _error(400, "invalid_json", "the request body is not valid JSON")
            problems.append(f"{where or 'body'}: {err.get('msg')}")
        return _error(422, "invalid_input", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(BackendError)
    async def backend_error(request: HTTPConnection, exc: BackendError) -> JSONResponse | None:
        if isinstance(request, WebSocket):
            # A socket has no method and takes no response: it is told to come back later.
            log.error("backend error on websocket %s", request.url.path, exc_info=exc)
            await _close_try_again(request)
            return None
        assert isinstance(request, Request)
        log.error("backend error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(
            503, "unavailable", "a backend is unavailable; retry shortly", {"Retry-After": "2"}
        )

    @app.exception_handler(EncryptionError)
    async def unreadable(request: Request, exc: EncryptionError) -> JSONResponse:
        # A missing key or a tampered value: the operator's fix is in the log, never the
        # answer (docs/security.md "Encryption at rest").
        log.error("stored data cannot be decrypted on %s: %s", request.url.path, exc)
        return _error(500, "stored_data_unreadable", "stored data could not be decrypted")


async def _close_try_again(ws: WebSocket) -> None:
    try:
        await ws.close(1013, "a backend is unavailable")
    except (RuntimeError, OSError):
        pass  # already closed, or the client is gone: nothing left to tell it
