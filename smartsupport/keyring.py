"""The keys that encrypt customers' data at rest, and what they do: AES-256-GCM sealing
and keyed hashes (blind indexes).

A keyring is a set of data keys, each with an id, one of them primary (new values are sealed
with it; every key still opens what it sealed: rotation), plus one index key for keyed
hashes. Keys come from a ``KeySource``: the ``SMARTSUPPORT_ENCRYPTION_KEYS`` variable, a key
file, or anything else that implements ``load`` (a KMS that unwraps the data keys).

Sealed value (bytes): version byte (1) | key id length (1) | key id | nonce (12) | ciphertext
and tag. The version byte and key id are part of the associated data with the caller's
context (table, column, row), so a value moved to another row, or a changed key id, fails
to open (``EncryptionError``), never decrypts to garbage.

Keyed hashes use the index key, which data-key rotation leaves alone: lookups (a
customer's email, external id) and the transcript search index keep working while data keys
rotate. The index key is changed on its own (``keys rotate-index``, then ``keys reindex``;
storage/reindex.py): during the change the keyring also holds ``next_index_key``. New hashes
are made with the next key, and look-ups try both (``blinds``: the next key's hash, then the
current one's), so a row is found whether the re-index has reached it or not; when every
stored hash is the next key's, the next key replaces the index key (``finish_index_change``).

The key file and ``SMARTSUPPORT_ENCRYPTION_KEYS`` hold one JSON document::

    {"primary": "k20261203", "keys": {"k20261203": "<base64 of 32 bytes>"},
     "index_key": "<base64 of 32 bytes>"}

(plus ``"next_index_key": "<base64 of 32 bytes>"`` while the index key changes).
"""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smartsupport.errors import ConfigurationError, EncryptionError

VERSION = 1
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random per value (2^32 values per key stay safe)
HASH_HEX = 32  # keyed hashes keep 128 bits: collisions never matter at our sizes
_SHA256_BLOCK = 64
RELOAD_SECONDS = 5.0  # at most one re-read of the key source per interval on an unknown id


@dataclass(frozen=True)
class KeySet:
    """Data keys by id, which one seals new values, the index key, and the index key that
    replaces it while a re-index runs."""

    keys: dict[str, bytes]
    primary: str
    index_key: bytes
    next_index_key: bytes | None = None

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise ConfigurationError(
                f"The keyring's primary key {self.primary!r} is not among its keys "
                f"({', '.join(sorted(self.keys))}). Fix the key file or "
                "SMARTSUPPORT_ENCRYPTION_KEYS."
            )
        index = [("index_key", self.index_key), ("next_index_key", self.next_index_key)]
        for key_id, key in [*self.keys.items(), *((k, v) for k, v in index if v is not None)]:
            if len(key) != KEY_BYTES:
                raise ConfigurationError(
                    f"Key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}. "
                    "Create keys with `smartsupport keys create`."
                )
            if not 0 < len(key_id.encode()) < 64 or not key_id.isascii():
                raise ConfigurationError(f"Key id {key_id!r} must be 1-63 ASCII characters.")

    def to_json(self, *, indent: int | None = 2) -> str:
        """The keyring document (``indent=None``: one line, for an environment variable)."""
        document = {
            "primary": self.primary,
            "keys": {k: _b64(v) for k, v in self.keys.items()},
            "index_key": _b64(self.index_key),
        }
        if self.next_index_key is not None:
            document["next_index_key"] = _b64(self.next_index_key)
        return json.dumps(document, indent=indent)

    @classmethod
    def from_json(cls, text: str, where: str) -> KeySet:
        try:
            data = json.loads(text)
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
            following = data.get("next_index_key")
            return cls(
                keys,
                str(data["primary"]),
                base64.b64decode(data["index_key"]),
                None if following is None else base64.b64decode(following, validate=True),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise ConfigurationError(
                f"{where} is not a keyring ({type(exc).__name__}: {exc}). It must be JSON "
                '{"primary": ID, "keys": {ID: BASE64}, "index_key": BASE64}; create one with '
                "`smartsupport keys create`."
            ) from None

    def with_new_primary(self) -> KeySet:
        """A copy with a fresh key that is now primary; the old keys stay to open old values."""
        key_id = f"k{datetime.now(UTC):%Y%m%d%H%M%S}{secrets.token_hex(2)}"
        return replace(self, keys={**self.keys, key_id: AESGCM.generate_key(256)}, primary=key_id)

    def with_next_index_key(self) -> KeySet:
        """A copy that also holds a fresh index key (``keys rotate-index``)."""
        if self.next_index_key is not None:
            raise ConfigurationError(
                "The index key is already being changed (the keyring has a next_index_key). "
                "Finish that change with `smartsupport keys reindex` first."
            )
        return replace(self, next_index_key=AESGCM.generate_key(256))

    def finish_index_change(self) -> KeySet:
        """A copy whose index key is the next one; the old index key is dropped."""
        if self.next_index_key is None:
            raise ConfigurationError("The index key is not being changed: nothing to finish.")
        return replace(self, index_key=self.next_index_key, next_index_key=None)

    @property
    def index_keys(self) -> tuple[bytes, ...]:
        """The index keys look-ups try, the one new hashes are made with first."""
        if self.next_index_key is None:
            return (self.index_key,)
        return (self.next_index_key, self.index_key)


def new_keyset() -> KeySet:
    key_id = f"k{datetime.now(UTC):%Y%m%d%H%M%S}{secrets.token_hex(2)}"
    return KeySet({key_id: AESGCM.generate_key(256)}, key_id, AESGCM.generate_key(256))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class KeySource(abc.ABC):
    """Where a keyring's keys come from. Implement ``load`` to plug in a KMS (unwrap the data
    keys there); ``save`` only for sources smartsupport may change (``keys rotate``)."""

    description: str = "a key source"

    @abc.abstractmethod
    def load(self) -> KeySet:
        """The current keys. Raises ConfigurationError, naming the fix, when they are missing
        or malformed."""

    def version(self) -> object | None:
        """Something that changes when the stored keys change, cheap to read (a file's
        modification time), or None when unknown: then only an unknown key id makes a
        ``Keyring`` read the source again."""
        return None

    def save(self, keyset: KeySet) -> None:
        """Store ``keyset`` (used by ``keys rotate``)."""
        raise ConfigurationError(
            f"smartsupport cannot change {self.description}. Run `smartsupport keys rotate "
            "--print` and put the printed keyring where the keys come from."
        )


class EnvKeySource(KeySource):
    """The ``SMARTSUPPORT_ENCRYPTION_KEYS`` value."""

    description = "SMARTSUPPORT_ENCRYPTION_KEYS"

    def __init__(self, text: str) -> None:
        self._text = text

    def load(self) -> KeySet:
        return KeySet.from_json(self._text, self.description)


class FileKeySource(KeySource):
    """A key file readable by its owner only (0600): a group- or world-readable file is
    refused, since whoever reads it reads every customer's data."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"the key file {path}"

    def load(self) -> KeySet:
        try:
            mode = self.path.stat().st_mode
            text = self.path.read_text()
        except FileNotFoundError:
            raise ConfigurationError(
                f"The key file {self.path} does not exist. Restore it from your backup (the "
                "encrypted data cannot be read without it), or point "
                "SMARTSUPPORT_ENCRYPTION_KEY_FILE at it."
            ) from None
        except OSError as exc:
            raise ConfigurationError(f"Cannot read the key file {self.path}: {exc}.") from exc
        if mode & 0o077:
            raise ConfigurationError(
                f"The key file {self.path} can be read by other users (mode "
                f"{mode & 0o777:o}). Run: chmod 600 {self.path}"
            )
        return KeySet.from_json(text, self.description)

    def version(self) -> object | None:
        try:
            found = self.path.stat()
        except OSError:
            return None  # load() names the problem when the keyring is read again
        return (found.st_mtime_ns, found.st_size, found.st_ino)

    def save(self, keyset: KeySet) -> None:
        """Write atomically (a temporary 0600 file renamed over the old one)."""
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(keyset.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)

    def create(self) -> KeySet:
        """A new keyring in a new file (never overwrites one)."""
        keyset = new_keyset()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(keyset.to_json() + "\n")
        return keyset


@dataclass
class Keyring:
    """Seals and opens values, and makes keyed hashes. Built from a ``KeySource``; an
    unknown key id makes it read the source again (at most every ``RELOAD_SECONDS``), so a
    server keeps opening values that ``keys reencrypt`` sealed with a key added after it
    started. A source that tells its version (a key file) is also checked every
    ``RELOAD_SECONDS`` when hashing, so servers take up a next index key (``keys
    rotate-index``) and drop the old one without a restart."""

    source: KeySource
    keyset: KeySet = field(init=False)
    _ciphers: dict[str, AESGCM] = field(init=False, default_factory=dict)
    _reloaded: float = field(init=False, default=0.0)
    _version: object | None = field(init=False, default=None)
    _checked: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._version = self.source.version()
        self.keyset = self.source.load()
        self._ciphers = {k: AESGCM(v) for k, v in self.keyset.keys.items()}
        self._checked = time.monotonic()

    @property
    def primary(self) -> str:
        return self.keyset.primary

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        key_id = self.keyset.primary.encode()
        header = bytes([VERSION, len(key_id)]) + key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.keyset.primary].encrypt(nonce, plaintext, header + context)
        return header + nonce + sealed

    def open(self, blob: bytes, context: bytes) -> bytes:
        key_id, header = key_id_of(blob)
        cipher = self._cipher(key_id)
        body = blob[len(header) :]
        try:
            return cipher.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], header + context)
        except InvalidTag:
            raise EncryptionError(
                f"A stored value sealed with key {key_id!r} failed its integrity check "
                f"({context.decode(errors='replace')}): it was changed or moved in the "
                "database. Restore it from a backup."
            ) from None

    def _cipher(self, key_id: str) -> AESGCM:
        if key_id not in self._ciphers and time.monotonic() - self._reloaded > RELOAD_SECONDS:
            self._reloaded = time.monotonic()
            fresh = self.source.load()
            self._ciphers.update((k, AESGCM(v)) for k, v in fresh.keys.items())
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise EncryptionError(
                f"A stored value was sealed with key {key_id!r}, which is not in "
                f"{self.source.description} (it has {', '.join(sorted(self._ciphers))}). "
                "Add that key to the keyring: keys removed after rotation must stay until "
                "`smartsupport keys reencrypt` has finished."
            ) from None

    def blind(self, kind: str, value: str) -> str:
        """A keyed hash of ``value`` (HMAC-SHA256 under the index key, one domain per
        ``kind``): equal inputs give equal hashes, and without the key nothing can be
        learnt or guessed from them. While the index key changes: under the next key."""
        return keyed_hash(self.index_keys()[0], kind, value)

    def blinds(self, kind: str, value: str) -> tuple[str, str]:
        """The hashes a look-up matches: the next index key's, then the current one's (the
        same twice when the index key is not changing), so SQL keeps one shape."""
        keys = self.index_keys()
        return keyed_hash(keys[0], kind, value), keyed_hash(keys[-1], kind, value)

    def index_keys(self) -> tuple[bytes, ...]:
        """``KeySet.index_keys`` of the source as it is now (re-read when it changed)."""
        now = time.monotonic()
        if now - self._checked > RELOAD_SECONDS:
            self._checked = now
            version = self.source.version()
            if version is not None and version != self._version:
                self._version = version
                self.keyset = self.source.load()
                self._ciphers.update((k, AESGCM(v)) for k, v in self.keyset.keys.items())
        return self.keyset.index_keys


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` in the ``kind`` domain under ``key``, cut to ``HASH_HEX``."""
    inner_state, outer_state = _hmac_states(key)
    inner = inner_state.copy()
    inner.update(f"{kind}\x00{value}".encode())
    outer = outer_state.copy()
    outer.update(inner.digest())
    return outer.hexdigest()[:HASH_HEX]


@lru_cache(maxsize=16)
def _hmac_states(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    # HMAC (RFC 2104) with the key's two padded blocks hashed once per key: every search
    # term of every message is blinded, and ``hmac.new`` re-derives them each call (2.2 µs
    # a hash against 1.0 µs from these copied states; the same digests).
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in key)),
        hashlib.sha256(bytes(b ^ 0x5C for b in key)),
    )


def key_check(key: bytes) -> str:
    """A short public name of an index key (a keyed hash of nothing), so a re-index's
    progress is tied to the key it re-indexes to and never resumed for another."""
    return keyed_hash(key, "key_check", "")[:12]


def key_id_of(blob: bytes) -> tuple[str, bytes]:
    """The key id of a sealed value and its header; EncryptionError if it is not one."""
    if len(blob) < 2 or blob[0] != VERSION or len(blob) < 2 + blob[1] + NONCE_BYTES + 16:
        version = blob[0] if blob else None
        raise EncryptionError(
            f"A stored value is not a sealed value of a known version (version byte "
            f"{version!r}, {len(blob)} bytes): it was changed in the database, or written by "
            "a newer smartsupport. Restore it from a backup, or upgrade."
        )
    header = blob[: 2 + blob[1]]
    return header[2:].decode("ascii", errors="replace"), header
