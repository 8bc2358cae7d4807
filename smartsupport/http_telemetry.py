"""The web side of telemetry (docs/observability.md):

    RequestTelemetry   ASGI middleware, outermost: the request id (the client's
                       X-Request-ID when it is a sane token, else a new one; echoed in the
                       response and in the WebSocket handshake, and on every log line of the
                       request), the request's latency by route template and status, and
                       its server span (a W3C traceparent from the client is continued)
    GET /metrics       Prometheus text format, for a scraper that sends the bearer token;
                       the inbox queue and the outbox are read from the database here, at
                       scrape time, with one grouped query each on indexed columns

/metrics is left out of the OpenAPI document: it is for operators' scrapers, not API
clients, and its body is Prometheus's format, not JSON.
"""

from __future__ import annotations

import hmac
import re
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartsupport.assistant import Assistant
from smartsupport.domain import ConversationStatus, utcnow
from smartsupport.errors import NotFound
from smartsupport.llm.chain import CallCounts
from smartsupport.log_format import REQUEST_ID
from smartsupport.metrics import CONTENT_TYPE, Metrics
from smartsupport.remote import CircuitBreaker
from smartsupport.services import Services
from smartsupport.telemetry import Telemetry

router = APIRouter()
HEADER = b"x-request-id"
# What we accept as a client's request id: it is copied into logs and headers, so no spaces,
# quotes or control characters, and not longer than a few UUIDs.
SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
UNMATCHED = "unmatched"  # every unrouted path shares one label: no unbounded label values


class RequestTelemetry:
    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, _echo_id(send, request_id, "websocket.accept"))
            else:
                await self._http(scope, receive, send, request_id)
        finally:
            REQUEST_ID.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        status = 500  # unless the app answers: an exception ends in a 500 further out
        root = scope.get("root_path", "")
        span: Any = None
        tracer = self.telemetry.tracer
        if tracer is not None:
            span = _server_span(tracer, scope, request_id)
            span.__enter__()

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, answer)
        finally:
            route = _route(scope, root)
            metrics = self.telemetry.metrics
            if metrics is not None:
                metrics.http.labels(scope["method"], route, str(status)).observe(
                    time.perf_counter() - started
                )
            if span is not None:
                _end_server_span(span, scope["method"], route, status)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == HEADER:
            given = value.decode("latin-1")
            if SANE_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


def _echo_id(send: Send, request_id: str, start: str) -> Send:
    async def echo(message: Message) -> None:
        if message["type"] == start:
            message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
        await send(message)

    return echo


def _route(scope: Scope, root: str) -> str:
    """The route template (``/api/v1/conversations/{conversation_id}``), with the prefix of
    a mounted app; a mount without routes of its own (static files) by its prefix."""
    route = scope.get("route")
    prefix = scope.get("root_path", "")[len(root) :]
    template = getattr(route, "path", None)
    if template is not None:
        return prefix + template
    return prefix + "/*" if prefix else UNMATCHED


def _server_span(tracer: Any, scope: Scope, request_id: str) -> Any:
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    return tracer.start_as_current_span(
        scope["method"],
        context=propagate.extract(carrier),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "smartsupport.request_id": request_id,
        },
        # Exceptions become 500s further out; the status code below tells the story.
        record_exception=True,
        set_status_on_exception=True,
    )


def _end_server_span(span: Any, method: str, route: str, status: int) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    current = trace.get_current_span()  # ``span``'s: it is current until it exits
    current.update_name(f"{method} {route}")
    current.set_attribute("http.route", route)
    current.set_attribute("http.response.status_code", status)
    if status >= 500:
        current.set_status(Status(StatusCode.ERROR))
    span.__exit__(*sys.exc_info())


# -- /metrics -------------------------------------------------------------------------------


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics, for a scraper that sends the configured bearer token."""
    telemetry: Telemetry = request.app.state.telemetry
    metrics = telemetry.metrics
    token = request.app.state.settings.metrics_token
    if metrics is None or token is None:
        raise NotFound("metrics are off: set SMARTSUPPORT_METRICS_TOKEN to turn them on")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return JSONResponse(
            {"error": {"code": "unauthorized", "message": "send Authorization: Bearer <token>"}},
            401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    await read_store(request.app.state.services, metrics)
    return Response(metrics.render(), media_type=CONTENT_TYPE)


async def read_store(services: Services, metrics: Metrics) -> None:
    """The inbox queue per workspace and the outbox backlog, as of now."""
    now = utcnow()
    workspaces = list(services.workspaces)
    queue: dict[str, tuple[int, float]] = {}
    if workspaces:
        marks = ", ".join("?" for _ in workspaces)
        # Waiting since the status event that put it in the queue (as inbox/queue.py).
        rows = await services.store.fetch(  # type: ignore[attr-defined]
            "SELECT c.workspace_id, COUNT(*) AS waiting, MIN(COALESCE((SELECT e.created_at "
            "FROM events e WHERE e.conversation_id = c.id AND e.type = 'conversation.status' "
            "ORDER BY e.id DESC LIMIT 1), c.created_at)) AS since FROM conversations c "
            f"WHERE c.workspace_id IN ({marks}) AND c.status = ? GROUP BY c.workspace_id",
            *workspaces,
            ConversationStatus.WAITING.value,
        )
        for row in rows:
            queue[row["workspace_id"]] = (row["waiting"], _age(row["since"], now))
    metrics.record_inbox(workspaces, queue)
    rows = await services.store.fetch(  # type: ignore[attr-defined]
        "SELECT status, COUNT(*) AS entries, MIN(created_at) AS oldest FROM outbox "
        "WHERE status IN ('pending', 'dead') GROUP BY status"
    )
    outbox = {row["status"]: row for row in rows}
    pending = outbox.get("pending")
    metrics.record_outbox(
        pending["entries"] if pending else 0,
        _age(pending["oldest"], now) if pending else 0.0,
        outbox["dead"]["entries"] if "dead" in outbox else 0,
    )


def _age(value: datetime | str | None, now: datetime) -> float:
    """Seconds since ``value``; SQLite returns an aggregate's timestamp as its ISO text."""
    if value is None:
        return 0.0
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (now - when).total_seconds())


def watch_services(metrics: Metrics, services: Services) -> None:
    """Let the metrics read the assistant's LLM steps and circuit breakers at scrape time."""

    def llm() -> Iterator[tuple[str, CallCounts]]:
        assistant = services.assistant
        if isinstance(assistant, Assistant):
            for step in assistant.answerer.llm_steps.values():
                yield step.provider.name, step.counts

    def breakers() -> Iterator[tuple[str, str, CircuitBreaker]]:
        assistant = services.assistant
        if not isinstance(assistant, Assistant):
            return
        for step in assistant.answerer.llm_steps.values():
            yield "llm", step.provider.name, step.breaker
        for workspace, engine in assistant.dialogue.engines.items():
            for name, backend in engine.backends.items():
                yield "action", f"{workspace}.{name}", backend.breaker

    metrics.watch(llm, breakers)
