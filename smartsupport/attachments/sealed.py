"""Attachments encrypted at rest: any attachment store, with each file's bytes sealed by the
field-encryption keyring (keyring.py; docs/security.md).

A sealed file is ``MAGIC`` followed by ``Keyring.seal`` of the bytes, bound to the file's key,
so a file copied under another key fails to open (``EncryptionError``) instead of handing
out someone else's document. Files stored before encryption was on have no ``MAGIC`` and are
returned as they are. Sealing runs in a worker thread: a 10 MiB file must not hold the event
loop. The key names the keyed hash of the content's SHA-256 (attachment_records.content_name,
HMAC under the index key), so whoever reads the directory cannot tell whether a file they
already have is stored either; files stored before keep the names they had (their SHA-256)
until ``keys reindex`` names them under the index key (reindex.py ``rename_files``).

``reseal`` is how ``keys reencrypt`` brings a file under the primary key (a file from before
encryption is sealed; one sealed with an older key is sealed again): the file is replaced
atomically, and one already under the primary key is left alone, so a run that stops is
simply started again (storage/reencrypt.py ``reencrypt_files``).
"""

from __future__ import annotations

import asyncio

from smartsupport.attachments.base import AttachmentStore
from smartsupport.errors import NotFound
from smartsupport.keyring import Keyring, key_id_of

MAGIC = b"SSENC\x01"


class SealedStore(AttachmentStore):
    def __init__(self, inner: AttachmentStore, keyring: Keyring) -> None:
        self.inner = inner
        self.keyring = keyring
        self.url = inner.url

    async def put(self, key: str, data: bytes) -> None:
        sealed = await asyncio.to_thread(self.keyring.seal, data, _context(key))
        await self.inner.put(key, MAGIC + sealed)

    async def get(self, key: str) -> bytes:
        stored = await self.inner.get(key)
        if not stored.startswith(MAGIC):
            return stored  # written before encryption was turned on
        return await asyncio.to_thread(self.keyring.open, stored[len(MAGIC) :], _context(key))

    async def overwrite(self, key: str, data: bytes) -> None:
        sealed = await asyncio.to_thread(self.keyring.seal, data, _context(key))
        await self.inner.overwrite(key, MAGIC + sealed)

    async def sealed_with(self, key: str) -> str | None:
        """The id of the key that sealed the file (None: stored in clear); NotFound when
        there is no file."""
        stored = await self.inner.get(key)
        return key_id_of(stored[len(MAGIC) :])[0] if stored.startswith(MAGIC) else None

    async def reseal(self, key: str) -> bool:
        """Seal the file under ``key`` with the primary key unless it already is; True
        when it was rewritten, False when it was left alone or is gone (erased meanwhile)."""
        try:
            stored = await self.inner.get(key)
        except NotFound:
            return False
        plain = stored
        if stored.startswith(MAGIC):
            blob = stored[len(MAGIC) :]
            if key_id_of(blob)[0] == self.keyring.primary:
                return False
            plain = await asyncio.to_thread(self.keyring.open, blob, _context(key))
        await self.overwrite(key, plain)
        return True

    async def delete(self, key: str) -> bool:
        return await self.inner.delete(key)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)


def _context(key: str) -> bytes:
    return f"attachments:{key}".encode()
