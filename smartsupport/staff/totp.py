"""RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30-second steps: what every
authenticator app speaks), and encryption of the stored secret.

The secret is sealed at rest so a database dump alone cannot mint codes:

    v2.<base64url(nonce[12] + AES-256-GCM ciphertext and tag[16])>

The key is derived from the server secret with HKDF-SHA256 under an info string of its own,
so it is never the key of anything else; the nonce is random (96 bits) per seal, and the
version prefix is authenticated too. Values sealed by 0.1 (``v1.``: HMAC-SHA256 in counter
mode, encrypt-then-MAC) still open, so enrolled accounts keep working; enrolling again seals
in the new format. Rotating the server secret means re-enrolling TOTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


SEALED = "v2."
LEGACY = "v1."  # 0.1: read, never written
NONCE_BYTES = 12


def _seal_key(server_secret: bytes) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"smartsupport/totp-secret/v2"
    ).derive(server_secret)
    return AESGCM(key)


def encrypt_secret(server_secret: bytes, secret: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = _seal_key(server_secret).encrypt(nonce, secret.encode(), SEALED.encode())
    return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(server_secret: bytes, stored: str) -> str | None:
    """The secret, or None when it was not encrypted with this server secret (or was
    altered)."""
    if stored.startswith(LEGACY):
        return _open_legacy(server_secret, stored)
    if not stored.startswith(SEALED):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[len(SEALED) :])
        plain = _seal_key(server_secret).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], SEALED.encode()
        )
        return plain.decode()
    except (ValueError, InvalidTag):  # bad base64, too short, wrong key or altered
        return None


def _open_legacy(server_secret: bytes, stored: str) -> str | None:
    """Open a 0.1 value: HMAC-SHA256 counter-mode keystream, encrypt-then-MAC."""
    try:
        raw = base64.urlsafe_b64decode(stored[len(LEGACY) :])
    except ValueError:
        return None
    if len(raw) < 16 + 32:
        return None
    enc = hmac.new(server_secret, b"smartsupport/totp/encrypt", hashlib.sha256).digest()
    mac = hmac.new(server_secret, b"smartsupport/totp/mac", hashlib.sha256).digest()
    nonce, cipher, tag = raw[:16], raw[16:-32], raw[-32:]
    if not hmac.compare_digest(tag, hmac.new(mac, nonce + cipher, hashlib.sha256).digest()):
        return None
    stream = b"".join(
        hmac.new(enc, nonce + struct.pack(">I", i), hashlib.sha256).digest()
        for i in range(len(cipher) // 32 + 1)
    )
    return bytes(a ^ b for a, b in zip(cipher, stream, strict=False)).decode()
