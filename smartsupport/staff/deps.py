"""FastAPI dependencies that guard staff and server-to-server endpoints.

They take ``HTTPConnection``, so the same dependency guards HTTP routes and WebSockets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol
from urllib.parse import parse_qs

from fastapi import Depends
from starlette.requests import HTTPConnection, Request

from smartsupport.errors import Forbidden, InvalidInput, Unauthorized
from smartsupport.services import Services
from smartsupport.staff import keyauth, mfa, tokens
from smartsupport.staff.config import staff_config
from smartsupport.staff.cookies import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    REFRESH_COOKIE,
)
from smartsupport.staff.models import RANK, ApiKeyPrincipal, Role, StaffUser
from smartsupport.staff.sessions import StaffSessions

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 16 * 1024


def _services(conn: HTTPConnection) -> Services:
    return conn.app.state.services  # type: ignore[no-any-return]


def sessions_for(conn: HTTPConnection) -> StaffSessions:
    return StaffSessions(_services(conn), staff_config(conn.app.state))


async def current_staff(conn: HTTPConnection) -> StaffUser:
    """The logged-in staff member, or the one an API key acts for (``Authorization: Bearer
    sk_...``, keyauth.py); 401 ``not_authenticated`` (or ``token_expired``,
    ``session_idle``, ``api_key_revoked``, ...) otherwise, 403 ``mfa_enrolment_required``
    while the role needs a second factor the session has not passed (mfa.py). Counts as
    activity for the inactivity timeout."""
    cached = getattr(conn.state, "staff_user", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    key = keyauth.presented_key(conn)
    if key is not None:
        user = await keyauth.key_staff(conn, key)
    else:
        user = await sessions_for(conn).authenticate(conn.cookies.get(ACCESS_COOKIE))
        mfa.enforce(conn, _services(conn).settings, user)
    conn.state.staff_user = user
    return user


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]


async def optional_staff(conn: HTTPConnection) -> StaffUser | None:
    """Like ``current_staff`` but None instead of 401: HTML pages redirect to the login."""
    try:
        return await current_staff(conn)
    except Unauthorized:
        return None


def require_role(minimum: Role) -> Callable[..., Awaitable[StaffUser]]:
    """A dependency: the current staff member if their role is at least ``minimum``
    (agent < supervisor < admin); 401 when not logged in, 403 when the role is lower."""
    if minimum not in RANK:
        raise ValueError(f"unknown role {minimum!r}")

    async def dependency(user: CurrentStaff) -> StaffUser:
        if not user.has_role(minimum):
            raise Forbidden(f"this needs the {minimum} role", code="role_required")
        return user

    dependency.__name__ = f"require_{minimum}"
    return dependency


class _HasWorkspaces(Protocol):
    @property
    def workspaces(self) -> list[str]: ...


def require_workspace(principal: _HasWorkspaces, workspace_id: str) -> None:
    """403 unless the staff member (or API key) belongs to ``workspace_id``."""
    if workspace_id not in principal.workspaces:
        raise Forbidden("you have no access to this workspace", code="workspace_forbidden")


def require_api_key(scope: str) -> Callable[..., Awaitable[ApiKeyPrincipal]]:
    """A dependency for server-to-server calls with ``Authorization: Bearer sk_...``:
    401 for a missing, unknown or revoked key, 403 when it lacks ``scope``."""

    async def dependency(conn: HTTPConnection) -> ApiKeyPrincipal:
        row = await keyauth.key_row(conn, keyauth.presented_key(conn))
        if scope not in row["scopes"]:
            raise Forbidden(f"the API key lacks the {scope!r} scope", code="scope_required")
        return ApiKeyPrincipal(row["id"], row["name"], row["workspace_id"], list(row["scopes"]))

    dependency.__name__ = f"require_api_key_{scope.replace(':', '_')}"
    return dependency


def csrf_binding(conn: HTTPConnection) -> str:
    """What the csrf token must be bound to: the session named by the (genuine, maybe
    expired) access token, else the session of the refresh cookie, else anonymous."""
    secret = _services(conn).secret_key
    try:
        claims = tokens.read_jwt(secret, conn.cookies.get(ACCESS_COOKIE), "access", None)
        return str(claims["sid"])
    except (Unauthorized, KeyError):
        pass
    return tokens.refresh_session_id(conn.cookies.get(REFRESH_COOKIE)) or tokens.ANONYMOUS


async def submitted_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict ({} for other bodies)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("the form is too large")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


async def verify_csrf(request: Request) -> None:
    """403 ``csrf_failed`` for an unsafe method (POST, PUT, PATCH, DELETE) unless the
    ``X-CSRF-Token`` header (or the ``csrf_token`` form field) equals the csrf cookie and
    that token was issued for this session. API-key calls carry no ambient credential, so
    they are exempt when they come without the session cookie."""
    if request.method in SAFE_METHODS:
        return
    if (
        request.headers.get("authorization", "").lower().startswith("bearer sk_")
        and ACCESS_COOKIE not in request.cookies
    ):
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER) or (await submitted_form(request)).get(CSRF_FIELD, "")
    secret = _services(request).secret_key
    if not (
        cookie
        and sent
        and tokens.constant_time_equal(sent, cookie)
        and tokens.csrf_token_valid(secret, sent, csrf_binding(request))
    ):
        raise Forbidden(
            f"missing or wrong CSRF token: send the {CSRF_HEADER} header (or the {CSRF_FIELD} "
            f"form field) with the value of the {CSRF_COOKIE} cookie",
            code="csrf_failed",
        )
