"""Password hashing (argon2id) and the password policy.

Hashing is deliberately slow and memory-hard (~50 ms, 64 MiB), so it runs in a worker
thread: an event loop blocked for 50 ms per login attempt would stall every WebSocket.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from smartsupport.errors import InvalidInput

MIN_LENGTH = 12
# argon2 accepts any length, but hashing a megabyte per attempt is a cheap denial of service.
MAX_LENGTH = 256

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): a login costs tens
# of milliseconds, and a burst of attempts cannot exhaust memory (argon2-cffi's default of
# 64 MiB x 4 lanes per attempt would). Stored hashes carry their parameters; raising these
# later re-hashes each password at its next login (check_needs_rehash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the email is unknown, so a miss costs as long as a hit (no timing oracle).
_DUMMY_HASH = _hasher.hash("smartsupport-dummy-password")

# The handful every breach list starts with; the length rule already removes most others.
_COMMON = {
    "password1234",
    "123456789012",
    "qwertyuiop12",
    "letmein12345",
    "administrator",
    "passwordpassword",
    "changeme1234",
    "welcome12345",
    "smartsupport",
    "iloveyou1234",
}


def check_policy(password: str, *, email: str = "") -> None:
    """Raise InvalidInput (with a message a person can act on) for a weak password."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"the password is too short: use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password is too long: use at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if len(set(password)) < 5:
        raise InvalidInput("the password is too repetitive: use at least 5 different characters")
    if lowered in _COMMON:
        raise InvalidInput("the password is too common: choose another one")
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in lowered:
        raise InvalidInput("the password must not contain the email address")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, new hash when the parameters were upgraded since it was stored).

    ``stored_hash`` None (unknown email) still spends the time of one verification."""
    if len(password) > MAX_LENGTH:
        return False, None
    return await asyncio.to_thread(_verify, stored_hash, password)


def _verify(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    if _hasher.check_needs_rehash(stored_hash):
        return True, _hasher.hash(password)
    return True, None
