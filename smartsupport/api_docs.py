"""The API description (``/openapi.json``) as a product surface: the error envelope, the
error responses of each operation, stable operation ids.

    ErrorBody              ``{"error": {"code": "...", "message": "..."}}``: the body of every
                           4xx and 5xx the app sends (``app._install_error_handlers``), the
                           422 of a request that fails validation included
    errors(401, 404, ...)  a route's ``responses=``: those statuses, each with ErrorBody (429
                           and 503 with their ``Retry-After`` header)
    operation_id(route)    the app's ``generate_unique_id_function``: a route in the schema
                           must name its operation (``operation_id="createConversation"``,
                           camelCase), so renaming a Python function never renames the API
    openapi(app)           FastAPI's document less the 422 ``HTTPValidationError`` body it
                           assumes for routes with parameters: the app never sends it; routes
                           that can answer 422 say so with ``errors(422)``
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}

# status -> (what it means, an example error code and message)
MEANINGS: dict[int, tuple[str, str, str]] = {
    400: ("The body is not valid JSON.", "invalid_json", "the request body is not valid JSON"),
    401: (
        "Not authenticated: the token, session or key is missing, wrong or expired.",
        "unauthorized",
        "missing visitor token: send 'Authorization: Bearer <token>'",
    ),
    403: (
        "Authenticated, but not allowed: another conversation's token, a lower role, another "
        "workspace, or a missing CSRF token.",
        "forbidden",
        "this token belongs to another conversation",
    ),
    404: ("Not found.", "not_found", "unknown conversation 'c0ffee'"),
    409: (
        "The resource is in a state that refuses the request.",
        "conflict",
        "this conversation was already rated",
    ),
    413: ("The body is too large.", "too_large", "webhook body too large"),
    422: (
        "The body or a parameter is not valid (``invalid_input``, or a more precise code).",
        "invalid_input",
        "text: String should have at least 1 character",
    ),
    429: ("Too many requests: slow down.", "rate_limited", "too many messages; slow down"),
    503: (
        "A backend is unavailable; retry shortly.",
        "unavailable",
        "a backend is unavailable; retry shortly",
    ),
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="Stable, machine-readable: `not_found`, `rate_limited`, ...")
    message: str = Field(description="For people; may change between versions.")


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    meaning, code, message = MEANINGS[status]
    response: dict[str, Any] = {
        "model": ErrorBody,
        "description": description or meaning,
        "content": {"application/json": {"example": {"error": {"code": code, "message": message}}}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can answer ``statuses`` with the error envelope."""
    return {status: error_response(status) for status in statuses}


# The guards' statuses, for routes behind them.
VISITOR = (401, 403, 404, 503)  # a visitor token for one conversation
STAFF = (401, 403, 503)  # a staff session (cookie); unsafe methods need the CSRF header


def operation_id(route: APIRoute) -> str:
    """Routes in the schema name their operation; the others keep their function's name."""
    if route.include_in_schema:
        raise ValueError(
            f"{sorted(route.methods or ())} {route.path} has no operation_id: name it "
            "(camelCase, e.g. operation_id='listMessages') where the route is declared"
        )
    return route.name


def openapi(app: FastAPI) -> dict[str, Any]:
    """The document ``/openapi.json`` serves (cached on the app, as FastAPI does)."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                default = operation.get("responses", {}).get("422", {})
                if "HTTPValidationError" in str(default.get("content")):
                    del operation["responses"]["422"]
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
    return app.openapi_schema
