"""The server-rendered login page: the password step and, when enrolled, the TOTP step.

Everything interpolated is HTML-escaped; the page runs no script, and its headers forbid
framing (clickjacking) and caching (a shared computer's back button).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from starlette.responses import HTMLResponse

from smartsupport.staff.cookies import CSRF_FIELD

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;
min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;padding:2rem 2.5rem;border-radius:10px;box-shadow:0 2px 12px #0002;
width:min(22rem,90vw)}
h1{font-size:1.3rem;margin:0 0 1.2rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #bbb;border-radius:6px;
font:inherit}
button{margin-top:1.2rem;width:100%;padding:.6rem;border:0;border-radius:6px;background:#2457d6;
color:#fff;font:inherit;cursor:pointer}
.error{background:#fdecea;color:#8a1c13;padding:.6rem .8rem;border-radius:6px}
.sso{display:block;margin-top:1rem;text-align:center}
code{word-break:break-all;background:#f4f5f7;padding:.1rem .3rem;border-radius:4px}
"""


def card_page(title: str, inner_html: str, status_code: int = 200) -> HTMLResponse:
    """A page of the login's look around ``inner_html`` (already escaped by the caller)."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · smartsupport</title><style>{_STYLE}</style></head><body>"
        f"<main><h1>{escape(title)}</h1>{inner_html}</main></body></html>"
    )
    return HTMLResponse(html, status_code, headers=SECURITY_HEADERS)


def login_page(
    *,
    csrf_token: str,
    next_url: str,
    error: str | None = None,
    email: str = "",
    mfa_token: str | None = None,
    status_code: int = 200,
    sso: bool = False,
) -> HTMLResponse:
    hidden = (
        f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf_token)}">'
        f'<input type="hidden" name="next" value="{escape(next_url)}">'
    )
    if mfa_token:
        fields = (
            f'<input type="hidden" name="mfa_token" value="{escape(mfa_token)}">'
            '<label for="code">Code from your authenticator app</label>'
            '<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" '
            'pattern="[0-9 ]{6,7}" required autofocus>'
        )
        button = "Verify"
    else:
        fields = (
            '<label for="email">Email</label>'
            f'<input id="email" name="email" type="email" autocomplete="username" required '
            f'value="{escape(email)}"{"" if email else " autofocus"}>'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password" '
            f'autocomplete="current-password" required{" autofocus" if email else ""}>'
        )
        button = "Sign in"
    alert = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    sso_link = (
        f'<a class="sso" href="/inbox/login/sso?{escape(urlencode({"next": next_url}))}">'
        "Sign in with single sign-on</a>"
        if sso and not mfa_token
        else ""
    )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Sign in · smartsupport</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>Sign in to the agent inbox</h1>{alert}"
        f'<form method="post" action="/inbox/login">{hidden}{fields}'
        f'<button type="submit">{button}</button></form>{sso_link}</main></body></html>'
    )
    return HTMLResponse(html, status_code, headers=SECURITY_HEADERS)


def safe_next(value: str | None, default: str = "/inbox") -> str:
    """Only a path on this site: "//evil.example" or "https://..." would be an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 32 for c in value):
        return default
    return value
