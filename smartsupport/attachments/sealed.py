"""Attachments encrypted at rest: any attachment store, with each file's bytes sealed by the
field-encryption keyring (keyring.py; docs/security.md).

A sealed file is ``MAGIC`` followed by ``Keyring.seal`` of the bytes, bound to the file's key,
so a file copied under another key fails to open (``EncryptionError``) instead of handing
out someone else's document. Files stored before encryption was on have no ``MAGIC`` and are
returned as they are. Sealing runs in a worker thread: a 10 MiB file must not hold the event
loop. The key names the content's SHA-256 (attachment_records.py), so whoever reads the
directory can still tell whether a file they already have is stored; the content itself is
sealed.
"""

from __future__ import annotations

import asyncio

from smartsupport.attachments.base import AttachmentStore
from smartsupport.keyring import Keyring

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

    async def delete(self, key: str) -> bool:
        return await self.inner.delete(key)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)


def _context(key: str) -> bytes:
    return f"attachments:{key}".encode()
