"""The contract of an attachment store: where the bytes of attachments live.

Keys are made by the caller (``attachment_records.py``: ``<workspace>/<name[:2]>/<name>``, the
content's name: its SHA-256, or with a keyring the keyed hash of it), never from a file name
a customer chose, so a crafted name cannot reach outside the store.
Writing the same key twice keeps the first copy (content-addressed: same key, same bytes).
Every method is async; a backend translates its own failures into ``BackendError``.
"""

from __future__ import annotations

import abc
import re

# A few path segments of safe characters; the last may end in a short extension (.pdf).
KEY = re.compile(r"^[A-Za-z0-9_-]{1,80}(/[A-Za-z0-9_-]{1,80}){0,3}(\.[a-z0-9]{1,8})?$")


def check_key(key: str) -> str:
    """A key as the stores accept it: a few safe path segments, no traversal."""
    if not KEY.match(key):
        raise ValueError(f"{key!r} is not an attachment key")
    return key


class AttachmentStore(abc.ABC):
    url: str

    @abc.abstractmethod
    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically (never half a file under the key); a key
        that already exists is left as it is."""

    @abc.abstractmethod
    async def overwrite(self, key: str, data: bytes) -> None:
        """Replace the bytes under ``key``, atomically (a reader sees the old bytes or the
        new ones, never half). Only for the same content in another form: re-encryption
        (``keys reencrypt``) seals a file again under the primary key."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``NotFound`` when there are none."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove ``key``; False when it was not there (deleting twice is not an error)."""

    @abc.abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds bytes."""
