"""API keys for server-to-server calls: ``sk_<prefix>_<secret>``.

The prefix (public, unique) finds the row; only the SHA-256 of the whole key is stored, so
a database dump yields no usable key. A plain hash is enough here (unlike passwords): the
secret is 256 random bits, there is nothing to guess.
"""

from __future__ import annotations

import hmac
import secrets

from smartsupport.errors import InvalidInput
from smartsupport.staff.models import SCOPE_PATTERN
from smartsupport.staff.tokens import sha256

PREFIX = "sk_"


def generate() -> tuple[str, str, str]:
    """(the key to show once, its lookup prefix, its hash to store)."""
    prefix = secrets.token_hex(6)
    key = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, sha256(key)


def parse(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None."""
    if not key.startswith(PREFIX) or len(key) > 200:
        return None
    prefix, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix


def matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(sha256(key), stored_hash)


def check_scopes(scopes: list[str]) -> list[str]:
    """Deduplicated, validated scopes; InvalidInput names the first bad one."""
    if not scopes:
        raise InvalidInput("an API key needs at least one scope, e.g. conversations:read")
    for scope in scopes:
        if not SCOPE_PATTERN.match(scope):
            raise InvalidInput(
                f"unknown scope {scope!r}: scopes look like resource:read, resource:write "
                "or resource:admin"
            )
    return sorted(set(scopes))
