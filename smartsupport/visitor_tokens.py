"""Visitor tokens: a bearer token that authorises one visitor for one conversation only.

The token is ``v1.<conversation id>.<HMAC-SHA256 of it>``, so verifying needs no database
read and every server sharing the secret key accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from smartsupport.errors import Forbidden, Unauthorized

_PREFIX = "v1"


def _sign(key: bytes, conversation_id: str) -> str:
    digest = hmac.new(key, f"{_PREFIX}.{conversation_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def issue_token(key: bytes, conversation_id: str) -> str:
    return f"{_PREFIX}.{conversation_id}.{_sign(key, conversation_id)}"


def verify_token(key: bytes, token: str | None, conversation_id: str) -> None:
    """Raise Unauthorized for a missing or forged token, Forbidden for another conversation's."""
    if not token:
        raise Unauthorized("missing visitor token: send 'Authorization: Bearer <token>'")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise Unauthorized("malformed visitor token")
    _, token_conversation, signature = parts
    if not hmac.compare_digest(signature, _sign(key, token_conversation)):
        raise Unauthorized("invalid visitor token")
    if token_conversation != conversation_id:
        raise Forbidden("this token belongs to another conversation")


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
