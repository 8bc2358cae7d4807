"""The tokens of a staff session, all made from the server secret:

- access: an HS256 JWT (``typ`` access, ``sub`` user, ``sid`` session), ~15 minutes;
- mfa: an HS256 JWT (``typ`` mfa) carried between the password and the TOTP step;
- refresh: ``<session id>.<random>``; only its SHA-256 is stored, and it rotates on use;
- csrf: ``<nonce>.<HMAC(session id, nonce)>``, a signed double-submit token bound to the
  session, so a cookie planted by a sibling subdomain is useless without the server secret.

Each token type has its own key derived from the secret, so one can never pass as another.
Expiry is checked against the injected clock, not PyJWT's (tests move time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

import jwt

from smartsupport.errors import Unauthorized

ISSUER = "smartsupport"
ANONYMOUS = "anonymous"  # the csrf binding before login


def _derive(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, f"smartsupport/staff/{purpose}".encode(), hashlib.sha256).digest()


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_jwt(secret: bytes, typ: str, subject: str, now: float, ttl: int, **claims: Any) -> str:
    payload = {
        "iss": ISSUER,
        "typ": typ,
        "sub": subject,
        "iat": int(now),
        "exp": int(now) + ttl,
        **claims,
    }
    return jwt.encode(payload, _derive(secret, "jwt"), algorithm="HS256")


def read_jwt(secret: bytes, token: str | None, typ: str, now: float | None) -> dict[str, Any]:
    """The verified claims. ``now`` None skips the expiry check (logout and csrf binding
    only need to know which session a genuine, possibly expired, token names)."""
    if not token:
        raise Unauthorized("not logged in", code="not_authenticated")
    try:
        claims = jwt.decode(
            token,
            _derive(secret, "jwt"),
            algorithms=["HS256"],  # pinned: never "none", never an algorithm the token picks
            issuer=ISSUER,
            options={
                "require": ["exp", "sub", "typ", "iss"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError:
        raise Unauthorized(
            "the session token is invalid; log in again", code="invalid_token"
        ) from None
    if claims.get("typ") != typ:
        raise Unauthorized("the session token is invalid; log in again", code="invalid_token")
    if now is not None and now >= claims["exp"]:
        raise Unauthorized(
            "the session token expired; refresh it or log in again", code="token_expired"
        )
    return claims


def new_refresh_token(session_id: str) -> str:
    return f"{session_id}.{secrets.token_urlsafe(32)}"


def refresh_session_id(token: str | None) -> str | None:
    if not token or token.count(".") != 1:
        return None
    session_id = token.split(".", 1)[0]
    return session_id if session_id.isalnum() and len(session_id) <= 64 else None


def _csrf_mac(secret: bytes, binding: str, nonce: str) -> str:
    digest = hmac.new(_derive(secret, "csrf"), f"{binding}|{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def new_csrf_token(secret: bytes, binding: str) -> str:
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_csrf_mac(secret, binding, nonce)}"


def csrf_token_valid(secret: bytes, token: str, binding: str) -> bool:
    nonce, _, mac = token.partition(".")
    if not nonce or not mac or len(token) > 200:
        return False
    return hmac.compare_digest(mac, _csrf_mac(secret, binding, nonce))


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
