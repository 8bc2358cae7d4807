"""The staff cookies, their names and flags, in one place.

All are ``Secure``: browsers (chromium included) treat http://127.0.0.1 and
http://localhost as secure contexts, so the local demo works without TLS while any other
plain-HTTP origin never receives them. All are ``SameSite=Strict``: a request started by
another site carries none of them. The session and refresh cookies are ``HttpOnly``; the
csrf cookie is readable by the inbox's JavaScript on purpose (double-submit).

The ``__Host-`` prefix makes the browser refuse these cookies from a sibling subdomain or
without Secure; the refresh cookie is scoped to the refresh path so it travels nowhere else.
"""

from __future__ import annotations

from starlette.responses import Response

from smartsupport.staff import tokens
from smartsupport.staff.config import StaffConfig
from smartsupport.staff.sessions import IssuedSession

ACCESS_COOKIE = "__Host-ss_access"
CSRF_COOKIE = "__Host-ss_csrf"
REFRESH_COOKIE = "__Secure-ss_refresh"
REFRESH_PATH = "/api/v1/auth"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def _set(
    response: Response, name: str, value: str, max_age: int, *, http_only: bool, path: str = "/"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=True,
        httponly=http_only,
        samesite="strict",
    )


def session_csrf(session: IssuedSession, secret: bytes) -> str:
    """A fresh csrf token bound to the session (a new one at login and at every refresh)."""
    return tokens.new_csrf_token(secret, session.session_id)


def set_session_cookies(
    response: Response, session: IssuedSession, csrf: str, config: StaffConfig
) -> None:
    """Set the access, refresh and csrf cookies.

    The access cookie lives as long as the session although its JWT expires sooner: an
    expired but genuine token still names the session for logout and the csrf binding."""
    ttl = config.session_ttl_seconds
    _set(response, ACCESS_COOKIE, session.access_token, ttl, http_only=True)
    _set(response, REFRESH_COOKIE, session.refresh_token, ttl, http_only=True, path=REFRESH_PATH)
    _set(response, CSRF_COOKIE, csrf, ttl, http_only=False)


def set_csrf_cookie(response: Response, csrf: str) -> None:
    """The csrf cookie alone, e.g. for the login form (login forms are forged too)."""
    _set(response, CSRF_COOKIE, csrf, 3600, http_only=False)


def clear_session_cookies(response: Response) -> None:
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path, secure=True, httponly=True, samesite="strict")
