"""Signed customer identity: the business's site vouches for who the visitor is.

The site's backend signs the signed-in user's id with a secret it shares with this workspace
and hands the result to the widget, which passes it when it opens a conversation:

    token = sign(secret, "cust-maria")             # on the business's server, per page view
    user_id = verify(secret, token)                # here: raises Unauthorized if forged/old

The token is ``v1.<timestamp>.<user id, base64url>.<HMAC-SHA256>``, the MAC covering the
version, the timestamp and the id. ``verify`` refuses tokens older than ``max_age`` seconds
(or dated in the future beyond a small clock skew), so a token copied from a page or a log is
useless a few minutes later; ``verify_once`` also refuses a second use within that window,
across every process sharing the backplane. Only a verified id may be stored as
``conversation.metadata["identity"]`` (see ``conversation_identity``): flows trust it to show
that customer's own orders.

The secret is per workspace, named in workspace.yaml by ``identity_secret_env`` (the name of
an environment variable, never the secret itself).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from typing import Any

from smartsupport.backplane.base import Backplane
from smartsupport.errors import ConfigurationError, Unauthorized

VERSION = "v1"
MAX_AGE_SECONDS = 300
CLOCK_SKEW_SECONDS = 60
MAX_USER_ID = 200


def _key(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < 16:
        raise ConfigurationError("an identity secret must be at least 16 bytes long")
    return key


def _mac(key: bytes, timestamp: str, encoded_id: str) -> str:
    digest = hmac.new(key, f"{VERSION}.{timestamp}.{encoded_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def sign(secret: bytes | str, user_id: str, *, timestamp: int | None = None) -> str:
    """A token vouching for ``user_id`` now (or at ``timestamp``, Unix seconds)."""
    if not user_id or len(user_id) > MAX_USER_ID:
        raise ValueError(f"a user id must be 1 to {MAX_USER_ID} characters")
    stamp = str(int(time.time() if timestamp is None else timestamp))
    encoded = base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")
    return f"{VERSION}.{stamp}.{encoded}.{_mac(_key(secret), stamp, encoded)}"


def verify(
    secret: bytes | str, token: str, *, max_age: float = MAX_AGE_SECONDS, now: float | None = None
) -> str:
    """The user id of a genuine, fresh token; Unauthorized otherwise (the message says why
    without echoing the token)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit():
        raise Unauthorized("malformed identity token")
    _, stamp, encoded, mac = parts
    if not hmac.compare_digest(mac, _mac(_key(secret), stamp, encoded)):
        raise Unauthorized("invalid identity token signature")
    age = (time.time() if now is None else now) - int(stamp)
    if age > max_age:
        raise Unauthorized("identity token expired: sign a fresh one for each page view")
    if age < -CLOCK_SKEW_SECONDS:
        raise Unauthorized("identity token is dated in the future: check the signing clock")
    try:
        user_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed identity token") from None
    if not user_id or len(user_id) > MAX_USER_ID:
        raise Unauthorized("malformed identity token")
    return user_id


async def verify_once(
    backplane: Backplane,
    secret: bytes | str,
    token: str,
    *,
    max_age: float = MAX_AGE_SECONDS,
    now: float | None = None,
) -> str:
    """``verify``, and refuse the same token a second time within its validity window."""
    user_id = verify(secret, token, max_age=max_age, now=now)
    mac = token.rsplit(".", 1)[-1]
    if await backplane.hit(f"identity-used:{mac}", 1, max_age + CLOCK_SKEW_SECONDS) > 0:
        raise Unauthorized("identity token already used: sign a fresh one for each page view")
    return user_id


def workspace_secret(config: Any) -> bytes | None:
    """The workspace's identity secret from the variable its ``identity_secret_env`` names;
    None when the workspace does not accept signed identities."""
    name = (getattr(config, "model_extra", None) or {}).get("identity_secret_env")
    if not name:
        return None
    value = os.environ.get(str(name))
    if not value:
        raise ConfigurationError(
            f"workspace {getattr(config, 'id', '?')}: identity_secret_env names {name}, "
            "which is not set"
        )
    return _key(value)


def conversation_identity(user_id: str, segment: str | None = None) -> dict[str, Any]:
    """What to store as ``conversation.metadata["identity"]`` once ``user_id`` is verified."""
    identity: dict[str, Any] = {"user_id": user_id, "verified_at": int(time.time())}
    if segment:
        identity["segment"] = segment
    return identity
