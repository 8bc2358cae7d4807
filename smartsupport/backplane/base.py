"""The backplane: short-lived shared state that lets server processes cooperate.

It holds four things: a key-value store with TTLs (session context, caches), per-key locks
(one turn at a time per conversation), fixed-window rate limits, and publish/subscribe
(a message posted through one process reaches a WebSocket held by another).

``memory.py`` keeps all of it inside one process (the embedded default); ``redis.py`` puts
it in Redis so several processes share it. ``backplane/__init__.py`` picks one from
``SMARTSUPPORT_REDIS_URL``; the contract suite tests/test_backplane.py runs on both.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

# What a subscription yields when messages may have been lost: the backplane lost its
# connection and got it back (a Redis restart). Consumers reload their state from the
# database; the memory backplane never yields it.
RESYNC: dict[str, Any] = {"type": "resync"}


class Subscription(abc.ABC):
    """Messages published on one channel after the subscription started, in publish order,
    and ``RESYNC`` (a copy) after an outage of the backplane once the channel is delivered
    again: whatever was published during the outage is not replayed."""

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        """Iterate over received messages until the subscription is closed."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop receiving; a pending iteration ends."""


class Held:
    """What ``Backplane.lock()`` yields: the values of the keys it was asked to ``read``
    once the lock was held, and writes to make just before it is released. Both ride on
    the lock's own round trips where the backend can (a turn's session context and its
    live events, on Redis)."""

    __slots__ = ("values", "sets", "publishes")

    def __init__(self, values: dict[str, bytes | None]) -> None:
        self.values = values
        self.sets: list[tuple[str, bytes, float | None]] = []
        self.publishes: list[tuple[str, dict[str, Any]]] = []

    def on_release(
        self,
        *,
        sets: Sequence[tuple[str, bytes, float | None]] = (),
        publishes: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> None:
        """When the block ends without an error: ``set`` each (key, value, ttl_seconds),
        then ``publish`` each (channel, message), in order, then release. A failure of
        these writes is raised from the ``async with``; if the block raises, they are
        dropped."""
        self.sets.extend(sets)
        self.publishes.extend(publishes)


class Backplane(abc.ABC):
    url: str
    # Whether other processes read what this one writes (Redis) or not (memory): a cache
    # need not copy an entry into a store only its own process reads.
    shared: bool = True

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open connections; raises BackendUnavailable when the server cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and end every subscription. Safe to call twice."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise BackendUnavailable when the backend does not answer."""

    # -- key-value with TTL ------------------------------------------------------------
    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The value, or None when missing or expired."""

    @abc.abstractmethod
    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        """Store ``value``; it expires after ``ttl_seconds`` (None: never)."""

    async def set_many(self, items: Sequence[tuple[str, bytes, float | None]]) -> None:
        """``set`` each (key, value, ttl_seconds); one round trip where the backend can."""
        for key, value, ttl_seconds in items:
            await self.set(key, value, ttl_seconds)

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the key if present."""

    # -- locks ---------------------------------------------------------------------------
    @abc.abstractmethod
    def lock(
        self,
        key: str,
        *,
        timeout: float = 10.0,
        lease: float = 30.0,
        read: Sequence[str] = (),
    ) -> AbstractAsyncContextManager[Held]:
        """Hold an exclusive lock on ``key`` across every process sharing the backplane.

        Waits up to ``timeout`` seconds and then raises BackendError. ``lease`` bounds how
        long a crashed holder can keep the lock: a live holder renews it every third of
        the lease for as long as the block runs, so the lease can be short whatever the
        block's length. The ``Held`` it yields has the values of the ``read`` keys (see
        ``get``) as they were once the lock was held.
        """

    # -- rate limits ---------------------------------------------------------------------
    @abc.abstractmethod
    async def hit(self, key: str, limit: int, window_seconds: float) -> float:
        """Count one hit on ``key`` in the current window. Returns 0 when within ``limit``,
        otherwise the seconds until the window resets (the hit is still counted)."""

    # -- publish / subscribe -------------------------------------------------------------
    @abc.abstractmethod
    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Deliver a JSON-serialisable message to every current subscriber of ``channel``."""

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> Subscription:
        """Start receiving messages published on ``channel`` from now on. Once this returns,
        nothing published afterwards is missed."""
