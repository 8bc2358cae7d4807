"""Single sign-on routes: the login page's "Sign in with single sign-on" link.

    GET /inbox/login/sso[?next=/inbox/...]   303 to the provider (authorization code + PKCE)
    GET /inbox/login/sso/callback            the provider sends the browser back here

The flow's secrets (nonce, PKCE verifier, where to go next) wait in the backplane for ten
minutes under the ``state``, so any server process (Redis shared) can finish the flow, and
each is used once. The browser holds the ``state`` in a cookie of its own: a callback whose
``state`` is not the one this browser started is refused (login CSRF). That cookie is
``SameSite=Lax``, the session cookies ``Strict``: the callback is a navigation from the
provider's site, which would carry no Strict cookie, and for the same reason the callback
answers with a page that moves on to ``next`` itself (a same-site navigation) instead of a
redirect, which would still count as started by the provider's site.

Which account signs in is sso_accounts.py's decision; whether the provider's ``amr`` /
``acr`` counts as the second factor is mfa.py's. An account with TOTP enrolled whose sign-in
carried no trusted second factor is asked for its code, as after a password.
"""

from __future__ import annotations

import json
from html import escape

from fastapi import APIRouter, Request
from starlette.datastructures import State
from starlette.responses import HTMLResponse, RedirectResponse, Response

from smartsupport.errors import NotFound, RateLimited, Unauthorized
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.staff import audited, mfa, sso_accounts, tokens
from smartsupport.staff.config import staff_config
from smartsupport.staff.cookies import session_csrf, set_csrf_cookie, set_session_cookies
from smartsupport.staff.deps import _services, csrf_binding, sessions_for
from smartsupport.staff.oidc import OidcClient, SsoFailed
from smartsupport.staff.page import SECURITY_HEADERS, login_page, safe_next

router = APIRouter(include_in_schema=False)

STATE_COOKIE = "__Host-ss_sso"
FLOW_TTL_SECONDS = 600
CALLBACK_PATH = "/inbox/login/sso/callback"


def oidc_client(state: State, settings: Settings) -> OidcClient:
    """The app's OIDC client (its discovery document and keys cached), made on first use;
    tests may put one on ``app.state.oidc_client`` beforehand."""
    client = getattr(state, "oidc_client", None)
    if client is None:
        secret = settings.sso_client_secret
        client = OidcClient(
            settings.sso_issuer,
            settings.sso_client_id,
            secret.get_secret_value() if secret else "",
        )
        state.oidc_client = client
    return client  # type: ignore[no-any-return]


def _redirect_uri(request: Request, settings: Settings) -> str:
    base = settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return base + CALLBACK_PATH


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _enabled(services: Services) -> Settings:
    if not services.settings.sso_issuer:
        raise NotFound("single sign-on is not configured (SMARTSUPPORT_SSO_ISSUER)")
    return services.settings


@router.get("/inbox/login/sso")
async def sso_start(request: Request, next: str = "/inbox") -> Response:
    services = _services(request)
    settings = _enabled(services)
    config = staff_config(request.app.state)
    # Each start writes a flow to the backplane: bounded per address like password attempts.
    wait = await services.backplane.hit(
        f"staff:sso:ip:{tokens.sha256(_ip(request))[:32]}",  # by hash, like login.py
        config.attempts_per_ip,
        config.attempt_window_seconds,
    )
    if wait:
        raise RateLimited("Too many sign-in attempts; try again later.", retry_after=wait)
    redirect_uri = _redirect_uri(request, settings)
    try:
        flow = await oidc_client(request.app.state, settings).begin(redirect_uri)
    except SsoFailed as exc:
        return _failed(request, exc, safe_next(next))
    saved = {"nonce": flow.nonce, "verifier": flow.verifier, "next": safe_next(next)}
    await services.backplane.set(
        f"staff:sso:flow:{flow.state}", json.dumps(saved).encode(), FLOW_TTL_SECONDS
    )
    response = RedirectResponse(flow.url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        STATE_COOKIE,
        flow.state,
        max_age=FLOW_TTL_SECONDS,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get(CALLBACK_PATH)
async def sso_callback(request: Request) -> Response:
    services = _services(request)
    settings = _enabled(services)
    params = request.query_params
    state = params.get("state", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    raw = await services.backplane.get(f"staff:sso:flow:{state}") if state else None
    if raw is not None:
        await services.backplane.delete(f"staff:sso:flow:{state}")  # used once
    saved = json.loads(raw) if raw else {}
    next_url = safe_next(saved.get("next"))
    try:
        if not state or not cookie or not tokens.constant_time_equal(state, cookie) or not raw:
            raise SsoFailed("this sign-in was not started here, or took too long; start again")
        if params.get("error"):
            raise SsoFailed("the identity provider did not sign you in")
        claims = await oidc_client(request.app.state, settings).finish(
            params.get("code", ""),
            saved["nonce"],
            saved["verifier"],
            _redirect_uri(request, settings),
        )
        now = staff_config(request.app.state).now()
        record = await sso_accounts.account_for(
            services, settings.sso_issuer, claims, now, _ip(request)
        )
    except Unauthorized as exc:
        await audited.sign_in_failed(services, "", exc.code, _ip(request))
        return _failed(request, exc, next_url)
    second_factor = mfa.amr_satisfies(settings, claims.get("amr"), claims.get("acr"))
    if record.totp_enabled and not second_factor:
        # As after a password: the code step, then the session (routes.login).
        config = staff_config(request.app.state)
        mfa_token = tokens.issue_jwt(
            services.secret_key, "mfa", record.id, config.timestamp(), config.mfa_ttl_seconds
        )
        csrf = tokens.new_csrf_token(services.secret_key, csrf_binding(request))
        page = login_page(csrf_token=csrf, next_url=next_url, mfa_token=mfa_token)
        set_csrf_cookie(page, csrf)
        _finish_flow(page)
        return page
    session = await sessions_for(request).start(
        record, _ip(request), request.headers.get("user-agent"), method="sso", mfa=second_factor
    )
    await audited.action(
        services.store, "staff.login", by=session.user, target=f"staff:{record.id}",
        ip=_ip(request), details={"method": "sso", "mfa": second_factor},
    )  # fmt: skip
    page = _continue_page(next_url)
    set_session_cookies(
        page, session, session_csrf(session, services.secret_key), staff_config(request.app.state)
    )
    _finish_flow(page)
    return page


def _continue_page(next_url: str) -> HTMLResponse:
    target = escape(next_url)
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={target}"><title>Signed in</title></head>'
        f'<body><p>Signed in. <a href="{target}">Continue</a></p></body></html>'
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def _finish_flow(response: Response) -> None:
    response.delete_cookie(STATE_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def _failed(request: Request, exc: Unauthorized, next_url: str) -> Response:
    services = _services(request)
    csrf = tokens.new_csrf_token(services.secret_key, csrf_binding(request))
    page = login_page(
        csrf_token=csrf, next_url=next_url, error=exc.message, status_code=401, sso=True
    )
    set_csrf_cookie(page, csrf)
    _finish_flow(page)
    return page
