"""RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30-second steps: what every
authenticator app speaks), and encryption of the stored secret.

The secret is encrypted at rest so a database dump alone cannot mint codes. There is no
AES in the standard library, so the cipher is HMAC-SHA256 in counter mode with an
encrypt-then-MAC tag: HMAC is a PRF, which is all a stream cipher and a MAC need. The keys
are derived from the server secret; rotating that secret means re-enrolling TOTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from urllib.parse import quote

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # accept the previous and next step too: clocks drift, people type slowly


def new_secret() -> str:
    """A 160-bit secret, base32 without padding (the form authenticator apps accept)."""
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def provisioning_uri(secret: str, account: str, issuer: str = "smartsupport") -> str:
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer)}&digits={DIGITS}&period={STEP_SECONDS}"


def code_at(secret: str, step: int) -> str:
    """The code of one time step (RFC 4226 HOTP over the step counter)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def matching_step(secret: str, code: str, now: float, last_step: int) -> int | None:
    """The step ``code`` belongs to within ±WINDOW of ``now``, or None. Steps at or before
    ``last_step`` were already used and never match again (replay protection)."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = int(now // STEP_SECONDS)
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        # Compare every candidate (no early exit) so timing does not tell which step matched.
        if hmac.compare_digest(code_at(secret, step), code) and step > last_step:
            found = step
    return found


def _keys(server_secret: bytes) -> tuple[bytes, bytes]:
    enc = hmac.new(server_secret, b"smartsupport/totp/encrypt", hashlib.sha256).digest()
    mac = hmac.new(server_secret, b"smartsupport/totp/mac", hashlib.sha256).digest()
    return enc, mac


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (
        hmac.new(key, nonce + struct.pack(">I", i), hashlib.sha256).digest()
        for i in range(length // 32 + 1)
    )
    return b"".join(blocks)[:length]


def encrypt_secret(server_secret: bytes, secret: str) -> str:
    enc, mac = _keys(server_secret)
    nonce = os.urandom(16)
    plain = secret.encode()
    cipher = bytes(a ^ b for a, b in zip(plain, _keystream(enc, nonce, len(plain)), strict=True))
    tag = hmac.new(mac, nonce + cipher, hashlib.sha256).digest()
    return "v1." + base64.urlsafe_b64encode(nonce + cipher + tag).decode()


def decrypt_secret(server_secret: bytes, stored: str) -> str | None:
    """The secret, or None when it was not encrypted with this server secret."""
    if not stored.startswith("v1."):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[3:])
    except ValueError:
        return None
    if len(raw) < 16 + 32:
        return None
    enc, mac = _keys(server_secret)
    nonce, cipher, tag = raw[:16], raw[16:-32], raw[-32:]
    if not hmac.compare_digest(tag, hmac.new(mac, nonce + cipher, hashlib.sha256).digest()):
        return None
    stream = _keystream(enc, nonce, len(cipher))
    return bytes(a ^ b for a, b in zip(cipher, stream, strict=True)).decode()
