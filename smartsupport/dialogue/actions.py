"""Actions: HTTP calls to the business's own systems, described in ``flows.yaml``.

One call is a chain of small steps: build the request (URL template with every value
percent-encoded, query, body, auth headers from the environment) -> is the backend's circuit
closed -> send with a timeout, retrying when that is safe -> turn the response into an
``ActionResult`` (an outcome name plus the mapped fields). The breaker, the backoff and the
retryable statuses are the shared ones of ``smartsupport.remote``.

Nothing here raises for a failed call: a timeout, a refused connection, a 5xx, a body that is
not the JSON object the action expects or an open circuit all become ``outcome="error"`` with
a short ``error`` for the event log. Secrets live only in request headers built per call;
they are never part of an error, an event, a log line or the dialogue state.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from smartsupport.dialogue import templates
from smartsupport.dialogue.schema import ActionSpec, AuthSpec, BackendSpec
from smartsupport.remote import CircuitBreaker, backoff, is_retryable_status, parse_retry_after

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1_000_000
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
IDEMPOTENT = {"GET", "PUT", "DELETE"}
# The longest wait between attempts: a customer is waiting for the answer. A backend that
# asks for longer (Retry-After) gets no retry; the flow takes its error branch instead.
MAX_WAIT = 5.0


@dataclass
class ActionResult:
    action: str
    outcome: str  # "ok", an outcome named in the action's ``outcomes``, or "error"
    status: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # short and secret-free: for events and logs
    attempts: int = 0
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def scope(self) -> dict[str, Any]:
        """What a flow sees under the result's name: the mapped fields plus the outcome
        (``http_status``, not ``status``: that name usually belongs to the API's data)."""
        return {**self.data, "outcome": self.outcome, "ok": self.ok, "http_status": self.status}

    def event(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "outcome": self.outcome,
            "status": self.status,
            "attempts": self.attempts,
            "ms": round(self.ms, 1),
            **({"error": self.error} if self.error else {}),
        }


def expand_env(value: str, environ: Mapping[str, str] | None = None) -> str:
    """``${NAME}`` and ``${NAME:-default}`` from the environment (for base URLs)."""
    env = os.environ if environ is None else environ
    return ENV_REF.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def auth_headers(auth: AuthSpec | None, backend: str) -> dict[str, str]:
    """Headers carrying the backend's credentials, read from the environment per call.
    Raises LookupError naming the *variable* (never a value) when a required one is unset."""
    if auth is None:
        return {}
    if auth.type == "basic":
        user = os.environ.get(auth.username_env or "")
        password = os.environ.get(auth.password_env or "")
        if user is None or password is None:
            return _missing(auth, backend, f"{auth.username_env}/{auth.password_env}")
        raw = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}
    token = os.environ.get(auth.token_env or "")
    if not token:
        return _missing(auth, backend, auth.token_env or "token_env")
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {token}"}
    return {auth.header: token}


def _missing(auth: AuthSpec, backend: str, variable: str) -> dict[str, str]:
    if auth.required:
        raise LookupError(f"backend {backend!r} needs the environment variable {variable}")
    return {}


def pick(data: Any, path: str) -> Any:
    """A dotted path into JSON ("shipping.carrier", "items.0.name"); "." is the whole body."""
    if path in (".", ""):
        return data
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.lstrip("-").isdigit():
            index = int(part)
            data = data[index] if -len(data) <= index < len(data) else None
        else:
            return None
    return data


@dataclass
class Backend:
    """A configured backend, ready to call: its client, base URL and breaker (shared by
    every conversation of the process, so a dead backend costs each customer one honest
    message instead of a timeout)."""

    name: str
    spec: BackendSpec
    client: httpx.AsyncClient
    base_url: str
    breaker: CircuitBreaker


async def call_action(
    name: str,
    spec: ActionSpec,
    backend: Backend,
    scope: Mapping[str, Any],
    *,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> ActionResult:
    """Run one action and describe what happened; never raises for a failed call."""
    started = time.perf_counter()
    result = ActionResult(name, "error")
    try:
        request = _build(spec, backend, scope)
    except LookupError as exc:  # missing credentials: a deployment problem, not transient
        log.error("action %s: %s", name, exc)
        result.error = "credentials not configured"
        return result
    except templates.TemplateError as exc:
        result.error = f"bad template: {exc}"
        return result
    if not backend.breaker.allow():
        result.error = "circuit open"
        return result
    try:
        await _send(spec, backend, request, result, sleep)
    except BaseException:
        # Cancelled (the customer left) or a bug: says nothing about the backend.
        backend.breaker.abandon()
        raise
    result.ms = (time.perf_counter() - started) * 1000
    if result.outcome == "error":
        backend.breaker.record_failure()
        log.warning("action %s failed after %d attempt(s): %s", name, result.attempts, result.error)
    else:
        backend.breaker.record_success()
    return result


async def _send(
    spec: ActionSpec,
    backend: Backend,
    request: httpx.Request,
    result: ActionResult,
    sleep: Callable[[float], Any],
) -> None:
    """Send, and repeat while it is safe and worth it: a call that never reached the server
    always is; one that may have reached it only when the action is idempotent."""
    idempotent = spec.idempotent if spec.idempotent is not None else spec.method in IDEMPOTENT
    attempts = 1 + backend.spec.retries
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        retry, retry_after = False, None
        try:
            response = await backend.client.send(request)
        except httpx.ConnectError:
            result.error, retry = "connection refused", True  # never reached the server
        except httpx.TimeoutException:
            result.error, retry = "timeout", idempotent
        except httpx.HTTPError as exc:
            result.error, retry = type(exc).__name__, idempotent
        else:
            _interpret(spec, response, result)
            retry = (
                result.outcome == "error"
                and idempotent
                and is_retryable_status(response.status_code)
            )
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        if not retry or attempt == attempts:
            return
        wait = backoff(attempt, retry_after, base=backend.spec.backoff, cap=MAX_WAIT)
        if wait > MAX_WAIT:
            return
        await sleep(wait)


def _build(spec: ActionSpec, backend: Backend, scope: Mapping[str, Any]) -> httpx.Request:
    url = backend.base_url.rstrip("/") + templates.render_url(spec.path, scope)
    params = {
        k: v
        for k, v in templates.render_data(spec.params, scope).items()
        if v is not None and v != ""
    }
    headers = {**backend.spec.headers, **auth_headers(backend.spec.auth, backend.name)}
    body = templates.render_data(spec.body, scope) if spec.body is not None else None
    return backend.client.build_request(
        spec.method,
        url,
        params=params,
        json=body,
        headers=headers,
        timeout=httpx.Timeout(backend.spec.timeout),
    )


def _interpret(spec: ActionSpec, response: httpx.Response, result: ActionResult) -> None:
    result.status = status = response.status_code
    named = spec.outcomes.get(status)
    if named is None and not 200 <= status < 300:
        result.outcome, result.error = "error", f"HTTP {status}"
        return
    body: Any = None
    if len(response.content) > MAX_RESPONSE_BYTES:
        result.outcome, result.error = "error", "response too large"
        return
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = None
    if named is not None:  # e.g. 404 -> not_found; its body is optional extra detail
        result.outcome = named
        result.data = _mapped(spec, body) if isinstance(body, dict) else {}
        return
    if not isinstance(body, dict):
        result.outcome, result.error = "error", "response is not a JSON object"
        return
    data = _mapped(spec, body)
    missing = [k for k in spec.require if data.get(k) in (None, "")]
    if missing:
        result.outcome, result.error = "error", f"response lacks {', '.join(missing)}"
        return
    result.outcome, result.data = "ok", data


def _mapped(spec: ActionSpec, body: dict[str, Any]) -> dict[str, Any]:
    if not spec.map:
        return dict(body)
    return {name: pick(body, path) for name, path in spec.map.items()}
