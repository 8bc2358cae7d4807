"""The default attachment store: a directory on disk (``file:///var/lib/smartsupport/files``).

Files are written to a temporary name and renamed, so a crash never leaves half a file under
a key. Disk I/O runs in a worker thread: the event loop never waits on the disk. Several
server processes may share the directory (a network volume): a rename is atomic and a
content-addressed key has one possible content.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from smartsupport.attachments.base import AttachmentStore, check_key
from smartsupport.errors import BackendError, NotFound


class DirectoryStore(AttachmentStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri() if root.is_absolute() else f"file://{root}"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await self._run(_write_once, self.path(key), data)

    async def overwrite(self, key: str, data: bytes) -> None:
        await self._run(_replace, self.path(key), data)

    async def get(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"no attachment {key!r}") from None
        except OSError as exc:
            raise BackendError(f"attachment store {self.root}: {exc}") from exc

    async def delete(self, key: str) -> bool:
        path = self.path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BackendError(f"attachment store {self.root}: {exc}") from exc
        return True

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def _run(self, fn: object, *args: object) -> None:
        try:
            await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]
        except OSError as exc:
            raise BackendError(f"attachment store {self.root}: {exc}") from exc


def _write_once(path: Path, data: bytes) -> None:
    if path.exists():
        return
    _replace(path, data)


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    tmp.replace(path)
