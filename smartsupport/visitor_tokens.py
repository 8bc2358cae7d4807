"""Visitor tokens: a bearer token that authorises one visitor for one conversation only.

The token is ``v2.<conversation id>.<issued at, Unix seconds>.<HMAC-SHA256 of the rest>``:
verifying needs no database read and every server sharing the secret key accepts it. It
expires ``SMARTSUPPORT_VISITOR_TOKEN_TTL_SECONDS`` after it was issued, and a conversation's
tokens can be revoked (``revocation``): every token issued up to that moment is refused,
which is what to do with a token that leaked from a shared computer or a log. The 0.1
tokens (``v1``, no expiry) are refused: they could never be withdrawn.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from smartsupport.errors import Forbidden, Unauthorized

_PREFIX = "v2"
REVOKED_KEY = "visitor_tokens_revoked_at"  # in conversation.metadata


def _sign(key: bytes, conversation_id: str, issued: str) -> str:
    message = f"{_PREFIX}.{conversation_id}.{issued}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def issue_token(key: bytes, conversation_id: str, *, now: float | None = None) -> str:
    issued = str(int(time.time() if now is None else now))
    return f"{_PREFIX}.{conversation_id}.{issued}.{_sign(key, conversation_id, issued)}"


def verify_token(
    key: bytes,
    token: str | None,
    conversation_id: str,
    *,
    ttl: float,
    now: float | None = None,
) -> int:
    """When the token was issued. Unauthorized for a missing, forged or expired token,
    Forbidden for another conversation's."""
    if not token:
        raise Unauthorized("missing visitor token: send 'Authorization: Bearer <token>'")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _PREFIX or not parts[2].isdigit() or len(parts[2]) > 12:
        raise Unauthorized("malformed visitor token")
    _, token_conversation, issued, signature = parts
    if not hmac.compare_digest(signature, _sign(key, token_conversation, issued)):
        raise Unauthorized("invalid visitor token")
    if token_conversation != conversation_id:
        raise Forbidden("this token belongs to another conversation")
    if (time.time() if now is None else now) - int(issued) > ttl:
        raise Unauthorized("visitor token expired: start a new conversation")
    return int(issued)


def check_not_revoked(issued: int, conversation_metadata: dict[str, Any]) -> None:
    """Unauthorized when the conversation's tokens were revoked after this one was issued."""
    revoked = conversation_metadata.get(REVOKED_KEY)
    if isinstance(revoked, int | float) and issued <= revoked:
        raise Unauthorized("visitor token revoked: start a new conversation")


def revocation(now: float | None = None) -> dict[str, int]:
    """The conversation metadata change that revokes every token issued until now."""
    return {REVOKED_KEY: int(time.time() if now is None else now)}


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
