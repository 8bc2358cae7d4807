"""A cache of understood messages, so a repeated question skips the model.

Keys are the normalised text (case, accents kept, whitespace collapsed) plus the workspace
and its model's hash, so a retrained model never serves stale answers. The in-process LRU is
always on; when a backplane shared by several processes is given (Redis), entries are shared
through its key-value store too, written behind the turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from typing import Any

from smartsupport import stopping
from smartsupport.backplane.base import Backplane

log = logging.getLogger(__name__)

TTL_SECONDS = 24 * 3600
# Writes to the shared store in flight at once; past that (Redis far slower than the turns
# that write), an entry is kept in this process only: a cache may miss, a turn must not wait.
MAX_WRITING = 1024


def normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def cache_key(workspace_id: str, model_hash: str, text: str) -> str:
    digest = hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:32]
    return f"nlu:{workspace_id}:{model_hash[:16]}:{digest}"


class UnderstandingCache:
    def __init__(self, backplane: Backplane | None = None, maxsize: int = 4096) -> None:
        # One process's backplane (memory) holds nothing the LRU below does not.
        self._backplane = backplane if backplane is not None and backplane.shared else None
        self._maxsize = maxsize
        self._local: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._writing: set[asyncio.Task[None]] = set()
        self._behind = False  # MAX_WRITING reached: said once, until the writes catch up

    @property
    def shared(self) -> bool:
        """Whether a miss here is looked up in a store shared with other processes (a round
        trip), not only in this process's copy."""
        return self._backplane is not None

    def local(self, key: str) -> dict[str, Any] | None:
        """This process's copy, if it has one."""
        value = self._local.get(key)
        if value is not None:
            self._local.move_to_end(key)
        return value

    async def shared_get(self, key: str) -> dict[str, Any] | None:
        """The shared store's copy (None without one), kept here too."""
        if self._backplane is None:
            return None
        raw = await self._backplane.get(key)
        if raw is None:
            return None
        value = json.loads(raw)
        self._remember(key, value)
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Keep ``value`` here at once, and share it through the backplane behind the turn,
        which does not wait for the write's reply (a Redis round trip: 1.5-2.5 ms under load,
        docs/benchmarks.md "Stop 32"). A write that fails costs another process's turn a
        model call for the same text, nothing more."""
        self._remember(key, value)
        if self._backplane is None:
            return
        if len(self._writing) >= MAX_WRITING:
            if not self._behind:
                log.warning(
                    "the backplane is %d writes behind: understood messages are kept in this "
                    "process only until it catches up",
                    MAX_WRITING,
                )
            self._behind = True
            return
        self._behind = False
        raw = json.dumps(value).encode("utf-8")
        task = asyncio.get_running_loop().create_task(self._share(self._backplane, key, raw))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def close(self) -> None:
        """Let the writes in flight end (a round trip each), then stop any left."""
        if self._writing:
            await asyncio.wait(set(self._writing), timeout=1.0)
        await stopping.stop(*self._writing)

    @staticmethod
    async def _share(backplane: Backplane, key: str, raw: bytes) -> None:
        try:
            await backplane.set(key, raw, TTL_SECONDS)
        except Exception as exc:  # noqa: BLE001 - a cache write is never a turn's failure
            log.warning("an understood message was not shared through the backplane: %s", exc)

    def _remember(self, key: str, value: dict[str, Any]) -> None:
        self._local[key] = value
        self._local.move_to_end(key)
        while len(self._local) > self._maxsize:
            self._local.popitem(last=False)
