"""A cache of understood messages, so a repeated question skips the model.

Keys are the normalised text (case, accents kept, whitespace collapsed) plus the workspace
and its model's hash, so a retrained model never serves stale answers. The in-process LRU is
always on; when a backplane is given, entries are shared through its key-value store too.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from smartsupport.backplane.base import Backplane

TTL_SECONDS = 24 * 3600


def normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def cache_key(workspace_id: str, model_hash: str, text: str) -> str:
    digest = hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:32]
    return f"nlu:{workspace_id}:{model_hash[:16]}:{digest}"


class UnderstandingCache:
    def __init__(self, backplane: Backplane | None = None, maxsize: int = 4096) -> None:
        self._backplane = backplane
        self._maxsize = maxsize
        self._local: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def get(self, key: str) -> dict[str, Any] | None:
        value = self._local.get(key)
        if value is not None:
            self._local.move_to_end(key)
            return value
        if self._backplane is None:
            return None
        raw = await self._backplane.get(key)
        if raw is None:
            return None
        value = json.loads(raw)
        self._remember(key, value)
        return value

    async def set(self, key: str, value: dict[str, Any]) -> None:
        self._remember(key, value)
        if self._backplane is not None:
            await self._backplane.set(key, json.dumps(value).encode("utf-8"), TTL_SECONDS)

    def _remember(self, key: str, value: dict[str, Any]) -> None:
        self._local[key] = value
        self._local.move_to_end(key)
        while len(self._local) > self._maxsize:
            self._local.popitem(last=False)
