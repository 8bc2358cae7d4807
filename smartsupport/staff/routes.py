"""Staff routes: the login page, logout, refresh, "me" and TOTP enrolment.

``router`` includes the admin routes (admin.py), so the app mounts one router.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, RedirectResponse, Response

from smartsupport.api_docs import STAFF, error_response, errors
from smartsupport.errors import InvalidInput, RateLimited, Unauthorized
from smartsupport.staff import admin, audited, enrolment, mfa_page, passwords, sso, tokens
from smartsupport.staff.config import staff_config
from smartsupport.staff.cookies import (
    ACCESS_COOKIE,
    CSRF_FIELD,
    REFRESH_COOKIE,
    clear_session_cookies,
    session_csrf,
    set_csrf_cookie,
    set_session_cookies,
)
from smartsupport.staff.deps import (
    MAX_FORM_BYTES,
    CurrentStaff,
    _services,
    csrf_binding,
    sessions_for,
    submitted_form,
    verify_csrf,
)
from smartsupport.staff.login import LoginFlow
from smartsupport.staff.models import Role, StaffUser
from smartsupport.staff.page import login_page, safe_next
from smartsupport.staff.store import StaffStore

router = APIRouter(tags=["staff"])


class StaffUserOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    email: str
    name: str
    role: Role
    workspaces: list[str]


class SessionOut(BaseModel):
    """A new session: its cookies are set; send ``csrf_token`` as X-CSRF-Token."""

    model_config = ConfigDict(extra="forbid")
    user: StaffUserOut
    csrf_token: str


class MfaRequiredOut(BaseModel):
    """The password was right; post ``mfa_token`` with the authenticator's ``code`` next."""

    model_config = ConfigDict(extra="forbid")
    mfa_required: bool
    mfa_token: str


class RefreshedOut(SessionOut):
    expires_in: int = Field(description="Seconds the new access token is valid.")


class LoggedOutOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str


class MeOut(StaffUserOut):
    totp_enabled: bool


class TotpEnrolOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str = Field(description="Shown this once: the base32 TOTP secret.")
    otpauth_uri: str


class TotpConfirmOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    totp_enabled: bool


LOGIN_FIELDS = {
    "type": "object",
    "properties": {
        name: {"type": "string"}
        for name in ("email", "password", "mfa_token", "code", "next", CSRF_FIELD)
    },
}
SEE_OTHER: dict[int | str, dict[str, Any]] = {
    303: {"description": "Form posts: redirected (to ``next`` or the login page)."}
}


def user_json(user: StaffUser, **extra: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "workspaces": user.workspaces,
        **extra,
    }


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/inbox/login", include_in_schema=False)
async def login_form(request: Request, next: str = "/inbox") -> Response:
    csrf = tokens.new_csrf_token(_services(request).secret_key, csrf_binding(request))
    sso = bool(_services(request).settings.sso_issuer)
    response = login_page(csrf_token=csrf, next_url=safe_next(next), sso=sso)
    set_csrf_cookie(response, csrf)
    return response


async def _login_fields(request: Request) -> tuple[dict[str, str], bool]:
    """(fields, sent as JSON). The page posts a form; scripts and tests may post JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        raw = await request.body()
        if len(raw) > MAX_FORM_BYTES:
            raise InvalidInput("the request body is too large")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise InvalidInput("the request body is not valid JSON", code="invalid_json") from None
        if not isinstance(body, dict):
            raise InvalidInput("send a JSON object")
        return {k: str(v) for k, v in body.items() if isinstance(v, str | int)}, True
    return await submitted_form(request), False


@router.post(
    "/inbox/login",
    dependencies=[Depends(verify_csrf)],
    operation_id="login",
    response_model=None,
    responses={
        200: {
            "description": "JSON posts: the session, or the TOTP step that must follow.",
            "model": SessionOut | MfaRequiredOut,
        },
        **SEE_OTHER,
        401: error_response(401, "Wrong email, password or code (form posts: the page)."),
        **errors(403, 422, 429, 503),
    },
    # The login page posts the same fields as application/x-www-form-urlencoded; that is
    # the page's own flow (HTML back, or a 303), so the description keeps to JSON, which
    # also keeps generated clients working (openapi-python-client 0.29 breaks on two).
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": LOGIN_FIELDS}}}
    },
)
async def login(request: Request) -> Response:
    """Password step (email, password) or TOTP step (mfa_token, code). Form posts get the
    page back (or a 303 to ``next``); JSON posts get JSON. Needs the csrf cookie of
    ``GET /inbox/login`` and the same token in X-CSRF-Token (or the csrf_token field)."""
    fields, as_json = await _login_fields(request)
    services = _services(request)
    config = staff_config(request.app.state)
    flow = LoginFlow(services, config)
    next_url = safe_next(fields.get("next"))
    csrf = fields.get(CSRF_FIELD) or request.headers.get("x-csrf-token", "")
    mfa_token = fields.get("mfa_token")
    try:
        if mfa_token:
            record = await flow.totp_step(mfa_token, fields.get("code", ""), _client_ip(request))
        else:
            outcome = await flow.password_step(
                fields.get("email", ""), fields.get("password", ""), _client_ip(request)
            )
            if outcome.mfa_token:
                if as_json:
                    return JSONResponse({"mfa_required": True, "mfa_token": outcome.mfa_token})
                return login_page(csrf_token=csrf, next_url=next_url, mfa_token=outcome.mfa_token)
            assert outcome.user is not None
            record = outcome.user
    except (Unauthorized, RateLimited) as exc:
        await audited.sign_in_failed(
            services, fields.get("email", ""), exc.code, _client_ip(request)
        )
        if as_json:
            raise
        headers = (
            {"Retry-After": str(max(1, round(exc.retry_after)))}
            if isinstance(exc, RateLimited)
            else {}
        )
        page = login_page(
            csrf_token=csrf,
            next_url=next_url,
            error=exc.message,
            email=fields.get("email", ""),
            status_code=exc.status_code,
            # A wrong code keeps the TOTP step; an expired step starts over.
            mfa_token=mfa_token if exc.code == "totp_invalid" else None,
            sso=bool(services.settings.sso_issuer),
        )
        page.headers.update(headers)
        return page
    # A session started by the TOTP step has passed its second factor (staff/mfa.py).
    session = await sessions_for(request).start(
        record, _client_ip(request), request.headers.get("user-agent"), mfa=bool(mfa_token)
    )
    await audited.signed_in(services, record.id, _client_ip(request))
    new_csrf = session_csrf(session, services.secret_key)
    response: Response
    if as_json:
        response = JSONResponse({"user": user_json(session.user), "csrf_token": new_csrf})
    else:
        response = RedirectResponse(next_url, status_code=303)
    set_session_cookies(response, session, new_csrf, config)
    return response


@router.post(
    "/inbox/logout",
    dependencies=[Depends(verify_csrf)],
    operation_id="logout",
    response_model=None,
    responses={
        200: {"description": "With 'Accept: application/json'.", "model": LoggedOutOut},
        **SEE_OTHER,
        **errors(403, 503),
    },
)
async def logout(request: Request) -> Response:
    """End the session (if any) and clear the cookies. Works with an expired access token."""
    try:
        claims = tokens.read_jwt(
            _services(request).secret_key, request.cookies.get(ACCESS_COOKIE), "access", None
        )
        await sessions_for(request).end(str(claims["sid"]))
    except (Unauthorized, KeyError):
        pass
    response: Response
    if "application/json" in request.headers.get("accept", ""):
        response = JSONResponse({"status": "logged_out"})
    else:
        response = RedirectResponse("/inbox/login", status_code=303)
    clear_session_cookies(response)
    return response


@router.post(
    "/api/v1/auth/refresh",
    dependencies=[Depends(verify_csrf)],
    operation_id="refreshSession",
    response_model=None,
    responses={200: {"model": RefreshedOut}, **errors(*STAFF)},
)
async def refresh(request: Request) -> JSONResponse:
    """Rotate the refresh token and issue a new access token (call it before the access
    token's ``expires_in`` runs out, or after a 401 ``token_expired``)."""
    config = staff_config(request.app.state)
    session = await sessions_for(request).refresh(request.cookies.get(REFRESH_COOKIE))
    csrf = session_csrf(session, _services(request).secret_key)
    response = JSONResponse(
        {
            "user": user_json(session.user),
            "csrf_token": csrf,
            "expires_in": config.access_ttl_seconds,
        }
    )
    set_session_cookies(response, session, csrf, config)
    return response


@router.get(
    "/api/v1/auth/me", response_model=MeOut, operation_id="getMe", responses=errors(401, 503)
)
async def me(request: Request, user: CurrentStaff) -> dict[str, Any]:
    record = await StaffStore(_services(request).store).get_user(user.id)
    return user_json(user, totp_enabled=bool(record and record.totp_enabled))


class TotpEnrolIn(BaseModel):
    password: str = Field(
        default="",
        max_length=passwords.MAX_LENGTH,
        description="Required, except for an account that signs in only by SSO (then the "
        "sign-in must be fresh).",
    )


class TotpConfirmIn(BaseModel):
    code: str = Field(max_length=16)


@router.post(
    "/api/v1/auth/totp/enrol",
    dependencies=[Depends(verify_csrf)],
    response_model=TotpEnrolOut,
    operation_id="startTotpEnrolment",
    responses=errors(400, *STAFF, 409, 422),
)
async def totp_enrol(body: TotpEnrolIn, request: Request, user: CurrentStaff) -> dict[str, str]:
    """Start TOTP enrolment: the secret is shown this once. Needs the password again, so a
    borrowed session cannot lock its owner out with someone else's authenticator."""
    secret, uri = await enrolment.start(
        _services(request), staff_config(request.app.state), user, body.password
    )
    return {"secret": secret, "otpauth_uri": uri}


@router.post(
    "/api/v1/auth/totp/confirm",
    dependencies=[Depends(verify_csrf)],
    response_model=TotpConfirmOut,
    operation_id="confirmTotp",
    responses=errors(400, *STAFF, 409, 422),
)
async def totp_confirm(
    body: TotpConfirmIn, request: Request, user: CurrentStaff
) -> dict[str, bool]:
    """Finish enrolment with a current code; from now on login asks for one, and this
    session has passed its second factor."""
    await enrolment.confirm(
        _services(request), staff_config(request.app.state), user, body.code, _client_ip(request)
    )
    return {"totp_enabled": True}


router.include_router(admin.router)
router.include_router(sso.router)  # /inbox/login/sso: OpenID Connect sign-in
router.include_router(mfa_page.router)  # /inbox/mfa: the enrolment a required MFA holds at
