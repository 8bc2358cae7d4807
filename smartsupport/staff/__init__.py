"""Staff authentication and roles: the foundation of the agent inbox and the admin APIs.

Use these in routes (import from ``smartsupport.staff``)::

    current_staff                 Depends: -> StaffUser(id, email, name, role, workspaces,
                                  session_id). 401 when not logged in (codes
                                  not_authenticated, token_expired, session_idle,
                                  session_ended, invalid_token). Works on WebSockets too.
                                  Every call counts as activity (30 min inactivity timeout).
    optional_staff                Depends: -> StaffUser | None, for HTML pages that redirect
                                  to /inbox/login?next=<path> instead of answering 401.
    require_role("supervisor")    Depends: the StaffUser, 403 role_required below the role
                                  (agent < supervisor < admin), 401 when not logged in.
    require_workspace(user, ws)   plain call: 403 workspace_forbidden unless ``ws`` is one
                                  of the user's (or the API key's) workspaces. Call it for
                                  every workspace-owned object a route touches.
    require_api_key("conversations:read")
                                  Depends: -> ApiKeyPrincipal(id, name, workspace_id,
                                  scopes); ``Authorization: Bearer sk_...``; 401 missing,
                                  invalid or revoked key, 403 scope_required. Then call
                                  require_workspace(key, ws).
    verify_csrf                   Depends (put it in ``dependencies=[...]`` of every POST,
                                  PUT, PATCH, DELETE a browser calls): 403 csrf_failed
                                  unless header ``X-CSRF-Token`` (or form field
                                  ``csrf_token``) equals the ``__Host-ss_csrf`` cookie and
                                  was issued for this session. API-key calls are exempt.

Cookies (all Secure, SameSite=Strict; chromium accepts them on http://127.0.0.1 and
http://localhost, tests use ``TestClient(app, base_url="https://testserver")``):
``__Host-ss_access`` (HttpOnly, HS256 JWT, 15 min), ``__Secure-ss_refresh`` (HttpOnly,
Path=/api/v1/auth, rotating, one use), ``__Host-ss_csrf`` (readable by scripts).

Routes (``routes.router``, mounted by create_app):

    GET  /inbox/login[?next=/inbox/...]  the login page (sets the csrf cookie)
    POST /inbox/login      form (email, password, csrf_token, next) -> 303 to next; with
                           TOTP enrolled the page asks for the code (mfa_token, code).
                           JSON bodies get JSON: {"user", "csrf_token"} or
                           {"mfa_required": true, "mfa_token"}. 401 login_failed, 429.
    POST /inbox/logout     ends the session, clears cookies; 303 (JSON with Accept: json)
    POST /api/v1/auth/refresh     new access + refresh + csrf cookies; {"user",
                                  "csrf_token", "expires_in"}; a reused refresh token
                                  revokes the session (401 refresh_reused)
    GET  /api/v1/auth/me          the user, plus totp_enabled
    POST /api/v1/auth/totp/enrol  {"password"} -> {"secret", "otpauth_uri"} (shown once)
    POST /api/v1/auth/totp/confirm {"code"} -> {"totp_enabled": true}
    GET|POST /api/v1/admin/staff                      list / create users (admin)
    POST /api/v1/admin/staff/{id}/disable|enable      (admin; ends the user's sessions)
    GET|POST /api/v1/admin/staff/api-keys             list / create ({"key"} shown once)
    DELETE /api/v1/admin/staff/api-keys/{id}          revoke

Timings and limits: ``StaffConfig`` (config.py), replaceable as ``app.state.staff_config``.
Command line (commands.py): ``smartsupport users add|list|disable|enable|password|
reset-totp`` and ``smartsupport api-keys create|list|revoke``.
"""

from __future__ import annotations

from smartsupport.staff.deps import (
    current_staff,
    optional_staff,
    require_api_key,
    require_role,
    require_workspace,
    verify_csrf,
)
from smartsupport.staff.models import ROLES, ApiKeyPrincipal, Role, StaffUser

__all__ = [
    "ROLES",
    "ApiKeyPrincipal",
    "Role",
    "StaffUser",
    "current_staff",
    "optional_staff",
    "require_api_key",
    "require_role",
    "require_workspace",
    "verify_csrf",
]
