"""Signed customer identity: the business's site vouches for who the visitor is.

The site's backend signs the signed-in user's id with a secret it shares with this workspace
and hands the result to the widget, which passes it when it opens a conversation:

    token = sign(secret, "cust-maria")             # on the business's server, per page view
    user_id = verify(secret, token)                # here: raises Unauthorized if forged/old

The token is ``v1.<timestamp>.<user id, base64url>.<HMAC-SHA256>``, the MAC covering the
version, the timestamp and the id; ``sign(..., segment="vip")`` adds the customer's segment
as a fifth part under the same MAC. A segment counts only from here (or from the business's
own API, dialogue/personal.py): an anonymous visitor that declares ``segment: vip`` is not
prioritised. ``verify`` refuses tokens older than ``max_age`` seconds
(or dated in the future beyond a small clock skew), so a token copied from a page or a log is
useless a few minutes later; ``verify_once`` also refuses a second use within that window,
remembered in the database (``identity_replays``), so neither a restart nor another
process forgets a spent token. Only a verified id may be stored as
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
from dataclasses import dataclass
from typing import Any

from smartsupport.errors import ConfigurationError, Unauthorized
from smartsupport.storage.base import SqlDatabase

VERSION = "v1"
MAX_AGE_SECONDS = 300
CLOCK_SKEW_SECONDS = 60
MAX_USER_ID = 200
MAX_SEGMENT = 64


def _key(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < 16:
        raise ConfigurationError("an identity secret must be at least 16 bytes long")
    return key


def _mac(key: bytes, timestamp: str, encoded_id: str, encoded_segment: str | None = None) -> str:
    signed = f"{VERSION}.{timestamp}.{encoded_id}"
    if encoded_segment is not None:
        signed += f".{encoded_segment}"
    digest = hmac.new(key, signed.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(encoded: str) -> str:
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed identity token") from None


@dataclass(frozen=True, slots=True)
class SignedIdentity:
    """What a genuine token vouches for."""

    user_id: str
    segment: str | None = None


def sign(
    secret: bytes | str, user_id: str, *, timestamp: int | None = None, segment: str | None = None
) -> str:
    """A token vouching for ``user_id`` (and its ``segment``) now, or at ``timestamp``."""
    if not user_id or len(user_id) > MAX_USER_ID:
        raise ValueError(f"a user id must be 1 to {MAX_USER_ID} characters")
    if segment is not None and not 0 < len(segment) <= MAX_SEGMENT:
        raise ValueError(f"a segment must be 1 to {MAX_SEGMENT} characters")
    stamp = str(int(time.time() if timestamp is None else timestamp))
    parts = [VERSION, stamp, _b64(user_id)] + ([_b64(segment)] if segment else [])
    return ".".join([*parts, _mac(_key(secret), stamp, *parts[2:])])


def verify_identity(
    secret: bytes | str, token: str, *, max_age: float = MAX_AGE_SECONDS, now: float | None = None
) -> SignedIdentity:
    """The identity of a genuine, fresh token; Unauthorized otherwise (the message says why
    without echoing the token)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) not in (4, 5) or parts[0] != VERSION or not parts[1].isdigit():
        raise Unauthorized("malformed identity token")
    stamp, encoded, mac = parts[1], parts[2], parts[-1]
    encoded_segment = parts[3] if len(parts) == 5 else None
    if not hmac.compare_digest(mac, _mac(_key(secret), stamp, encoded, encoded_segment)):
        raise Unauthorized("invalid identity token signature")
    age = (time.time() if now is None else now) - int(stamp)
    if age > max_age:
        raise Unauthorized("identity token expired: sign a fresh one for each page view")
    if age < -CLOCK_SKEW_SECONDS:
        raise Unauthorized("identity token is dated in the future: check the signing clock")
    user_id = _unb64(encoded)
    segment = _unb64(encoded_segment) if encoded_segment is not None else None
    if not user_id or len(user_id) > MAX_USER_ID or (segment is not None and not segment):
        raise Unauthorized("malformed identity token")
    return SignedIdentity(user_id, segment)


def verify(
    secret: bytes | str, token: str, *, max_age: float = MAX_AGE_SECONDS, now: float | None = None
) -> str:
    """The user id of a genuine, fresh token (``verify_identity`` for the segment too)."""
    return verify_identity(secret, token, max_age=max_age, now=now).user_id


async def verify_once(
    db: SqlDatabase,
    secret: bytes | str,
    token: str,
    *,
    max_age: float = MAX_AGE_SECONDS,
    now: float | None = None,
) -> SignedIdentity:
    """``verify_identity``, and refuse the same token a second time within its validity
    window: the spent MAC is kept in ``identity_replays`` until the token would have expired
    anyway, so the memory survives restarts and is shared by every server of the database."""
    identity = verify_identity(secret, token, max_age=max_age, now=now)
    clock = time.time() if now is None else now
    key = hashlib.sha256(token.rsplit(".", 1)[-1].encode()).hexdigest()
    await db.execute("DELETE FROM identity_replays WHERE expires_at < ?", int(clock))
    spent = await db.execute(
        "INSERT INTO identity_replays (token_hash, expires_at) VALUES (?, ?) "
        "ON CONFLICT (token_hash) DO NOTHING",
        key,
        int(clock + max_age + CLOCK_SKEW_SECONDS),
    )
    if spent == 0:
        raise Unauthorized("identity token already used: sign a fresh one for each page view")
    return identity


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
