"""``/inbox/mfa``: TOTP enrolment as a page, where a role that requires MFA holds a session
that has not passed a second factor (mfa.py). Server-rendered with no script, like the login
page; every post carries the csrf token.

    GET  /inbox/mfa           the start: password (not for SSO-only accounts), or the status
    POST /inbox/mfa           shows the secret (for manual entry in an authenticator app)
                              and asks for a current code
    POST /inbox/mfa/confirm   the code turns TOTP on; 303 to /inbox
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from smartsupport.errors import RequestError
from smartsupport.staff import enrolment, totp
from smartsupport.staff.config import staff_config
from smartsupport.staff.cookies import CSRF_COOKIE, CSRF_FIELD
from smartsupport.staff.deps import _services, optional_staff, submitted_form, verify_csrf
from smartsupport.staff.mfa import ENROLMENT_PAGE
from smartsupport.staff.models import StaffUser
from smartsupport.staff.page import card_page
from smartsupport.staff.store import StaffStore

router = APIRouter(include_in_schema=False)
TITLE = "Set up two-step sign-in"


def _hidden(request: Request) -> str:
    csrf = escape(request.cookies.get(CSRF_COOKIE, ""))
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{csrf}">'


def _alert(error: str | None) -> str:
    return f'<p class="error" role="alert">{escape(error)}</p>' if error else ""


async def _start_page(request: Request, user: StaffUser, error: str | None = None) -> Response:
    record = await StaffStore(_services(request).store).get_user(user.id)
    assert record is not None
    logout = (
        f'<form method="post" action="/inbox/logout">{_hidden(request)}'
        '<button type="submit">Sign out</button></form>'
    )
    if record.totp_enabled:
        text = (
            "<p>Two-step sign-in is already set up for this account. This session started "
            "without the code: sign out, then sign in again with your authenticator's code.</p>"
            if not user.mfa_verified
            else '<p>Two-step sign-in is set up. <a href="/inbox">Go to the inbox</a></p>'
        )
        return card_page(TITLE, text + logout)
    password = (
        ""
        if record.password_hash == enrolment.SSO_ONLY
        else '<label for="password">Your password</label><input id="password" name="password" '
        'type="password" autocomplete="current-password" required autofocus>'
    )
    body = (
        f"{_alert(error)}<p>Your role ({escape(user.role)}) signs in with a code from an "
        "authenticator app as well. Set it up now to continue.</p>"
        f'<form method="post" action="{ENROLMENT_PAGE}">{_hidden(request)}{password}'
        '<button type="submit">Start</button></form>'
    )
    return card_page(TITLE, body + logout, 400 if error else 200)


def _code_page(request: Request, secret: str, uri: str, error: str | None = None) -> Response:
    body = (
        f"{_alert(error)}<p>Add this key to your authenticator app (time-based, 6 digits):</p>"
        f'<p><code id="totp-secret">{escape(secret)}</code></p>'
        f'<p><a href="{escape(uri)}">Open in an authenticator app</a></p>'
        f'<form method="post" action="{ENROLMENT_PAGE}/confirm">{_hidden(request)}'
        f'<input type="hidden" name="secret_shown" value="{escape(secret)}">'
        '<label for="code">Code from the app</label><input id="code" name="code" '
        'inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required '
        'autofocus><button type="submit">Turn on</button></form>'
    )
    return card_page(TITLE, body, 400 if error else 200)


async def _user(request: Request) -> StaffUser | Response:
    user = await optional_staff(request)
    if user is None:
        return RedirectResponse(f"/inbox/login?next={quote(ENROLMENT_PAGE)}", status_code=303)
    return user


@router.get(ENROLMENT_PAGE)
async def enrolment_page(request: Request) -> Response:
    user = await _user(request)
    return user if isinstance(user, Response) else await _start_page(request, user)


@router.post(ENROLMENT_PAGE, dependencies=[Depends(verify_csrf)])
async def enrolment_start(request: Request) -> Response:
    user = await _user(request)
    if isinstance(user, Response):
        return user
    fields = await submitted_form(request)
    config = staff_config(request.app.state)
    try:
        secret, uri = await enrolment.start(
            _services(request), config, user, fields.get("password", "")
        )
    except RequestError as exc:
        return await _start_page(request, user, exc.message)
    return _code_page(request, secret, uri)


@router.post(f"{ENROLMENT_PAGE}/confirm", dependencies=[Depends(verify_csrf)])
async def enrolment_confirm(request: Request) -> Response:
    user = await _user(request)
    if isinstance(user, Response):
        return user
    fields = await submitted_form(request)
    ip = request.client.host if request.client else None
    try:
        await enrolment.confirm(
            _services(request), staff_config(request.app.state), user, fields.get("code", ""), ip
        )
    except RequestError as exc:
        # The secret was shown on the previous page; it is echoed back only to re-show it.
        secret = fields.get("secret_shown", "")
        if exc.code == "totp_invalid" and secret:
            uri = totp.provisioning_uri(secret, user.email)
            return _code_page(request, secret, uri, exc.message)
        return await _start_page(request, user, exc.message)
    return RedirectResponse("/inbox", status_code=303)
