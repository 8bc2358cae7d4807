"""A cache of understood messages, so a repeated question skips the model.

Keys are the normalised text (case, accents kept, whitespace collapsed) plus the workspace
and its model's hash, so a retrained model never serves stale answers. The in-process LRU is
always on; when a backplane shared by several processes is given (Redis), entries are shared
through its key-value store too, written behind the turn: one writer task sends the entries
that arrived while it waited in one round trip.
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
# Entries waiting for the shared store at most; past that (Redis far slower than the turns
# that write), an entry is kept in this process only: a cache may miss, a turn must not wait.
MAX_WAITING = 1024
# Seconds the writer gathers entries before sending them together. Under load the turns of
# that time share one round trip instead of paying one each (a Redis command costs this
# process about 0.1-0.2 ms of CPU and a pass of the event loop). Another process that meets
# the same text within this time understands it again, nothing more.
GATHER_SECONDS = 0.05
MAX_BATCH = 256  # entries per round trip


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
        self._waiting: list[tuple[str, bytes]] = []  # (key, value) for the shared store
        self._sending = 0  # entries of the round trip under way
        self._writer: asyncio.Task[None] | None = None
        self._behind = False  # MAX_WAITING reached: said once, until the writes catch up

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

    @property
    def unsent(self) -> int:
        """Entries the shared store has not acknowledged yet."""
        return len(self._waiting) + self._sending

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Keep ``value`` here at once, and share it through the backplane behind the turn,
        which does not wait for the write's reply (a Redis round trip: 1.5-2.5 ms under load,
        docs/benchmarks.md "Stop 32"). A write that fails costs another process's turn a
        model call for the same text, nothing more."""
        self._remember(key, value)
        if self._backplane is None:
            return
        if len(self._waiting) >= MAX_WAITING:
            if not self._behind:
                log.warning(
                    "the backplane is %d writes behind: understood messages are kept in this "
                    "process only until it catches up",
                    MAX_WAITING,
                )
            self._behind = True
            return
        self._behind = False
        self._waiting.append((key, json.dumps(value).encode("utf-8")))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write(self._backplane), name="nlu-cache-writer"
            )

    async def close(self) -> None:
        """Let the writer send what waits (a round trip), then stop it."""
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            await asyncio.wait({writer}, timeout=1.0)
        await stopping.stop(writer)

    async def _write(self, backplane: Backplane) -> None:
        """Until nothing waits: gather for ``GATHER_SECONDS``, then send in one round trip."""
        while self._waiting:
            await asyncio.sleep(GATHER_SECONDS)
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            self._sending = len(batch)
            try:
                await backplane.set_many([(key, raw, TTL_SECONDS) for key, raw in batch])
            except Exception as exc:  # noqa: BLE001 - a cache write is never a turn's failure
                log.warning(
                    "%d understood message(s) were not shared through the backplane: %s",
                    len(batch),
                    exc,
                )
            finally:
                self._sending = 0

    def _remember(self, key: str, value: dict[str, Any]) -> None:
        self._local[key] = value
        self._local.move_to_end(key)
        while len(self._local) > self._maxsize:
            self._local.popitem(last=False)
