"""The second-factor policy: roles listed in ``SMARTSUPPORT_MFA_REQUIRED_ROLES`` must have
passed a second factor in the session they use.

A session's second factor is satisfied when its sign-in checked a TOTP code, when the
identity provider asserted one (an ``amr`` or ``acr`` value the deployment trusts,
``SMARTSUPPORT_SSO_MFA_AMR`` / ``_ACR``), or when TOTP enrolment was confirmed inside it.
Until then a member of such a role is held at enrolment: every staff route answers 403
``mfa_enrolment_required`` and every inbox page redirects to ``/inbox/mfa``, except the few
that enrolment itself needs (``HELD_PATHS``). API keys are not held: they are made by an
admin whose own session passed this check, and carry no password to phish.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from smartsupport.errors import Forbidden
from smartsupport.settings import Settings
from smartsupport.staff.models import StaffUser

ENROLMENT_PAGE = "/inbox/mfa"
# What a held session may still reach: enough to enrol, see who it is, or leave.
HELD_PATHS = frozenset(
    {
        ENROLMENT_PAGE,
        "/inbox/mfa/confirm",
        "/inbox/logout",
        "/api/v1/auth/me",
        "/api/v1/auth/refresh",
        "/api/v1/auth/totp/enrol",
        "/api/v1/auth/totp/confirm",
    }
)


class MfaEnrolmentRequired(Forbidden):
    code = "mfa_enrolment_required"


def required_for(settings: Settings, user: StaffUser) -> bool:
    return user.role in settings.mfa_required_roles


def amr_satisfies(settings: Settings, amr: object, acr: object) -> bool:
    """True when an ID token's ``amr`` (a list) or ``acr`` (a string) asserts a second
    factor the deployment trusts."""
    if isinstance(amr, list) and set(settings.sso_mfa_amr) & {str(v) for v in amr}:
        return True
    return isinstance(acr, str) and acr in settings.sso_mfa_acr


def enforce(conn: HTTPConnection, settings: Settings, user: StaffUser) -> None:
    """Raise MfaEnrolmentRequired when ``user``'s session must pass a second factor first."""
    if user.mfa_verified or user.api_key_id is not None or not required_for(settings, user):
        return
    if conn.url.path in HELD_PATHS:
        return
    raise MfaEnrolmentRequired(
        f"the {user.role} role requires a second factor: set up an authenticator app at "
        f"{ENROLMENT_PAGE} (or POST /api/v1/auth/totp/enrol) before anything else"
    )


async def held_at_enrolment(request: Request, exc: Exception) -> Response:
    """Pages (a browser asking for HTML) go to the enrolment page; API calls get the 403."""
    assert isinstance(exc, MfaEnrolmentRequired)
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(ENROLMENT_PAGE, status_code=303)
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, exc.status_code)
