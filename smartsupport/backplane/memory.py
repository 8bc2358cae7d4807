"""The in-process backplane: the embedded default when no Redis URL is configured.

Everything lives in dicts of this process, so it only coordinates tasks of one server. Expired
keys are dropped lazily on read and by an occasional sweep on write; lock and rate-limit
entries are removed as soon as nobody uses them, so 100k conversations leave nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from smartsupport.backplane.base import Backplane, Held, Subscription
from smartsupport.errors import BackendError

# A subscriber this far behind is dropped (its iteration raises) instead of growing memory.
DEFAULT_MAX_QUEUED = 1000
SWEEP_INTERVAL = 60.0


class QueueSubscription(Subscription):
    """A bounded local queue fed by a publisher (memory) or a reader task (redis).

    When the consumer falls ``max_queued`` messages behind, the subscription is closed with an
    error: the consumer sees every message queued so far, then BackendError, so it knows to
    resynchronise. Publishers never wait and other subscribers lose nothing.

    Each open widget socket holds one, mostly idle: the queue and the wake-up futures exist
    only while there is something queued or someone waiting (an ``asyncio.Event`` and a
    deque cost about 2 KiB a socket; docs/benchmarks.md, "Idle widget sockets").
    """

    def __init__(
        self,
        channel: str,
        on_close: Callable[[QueueSubscription], Any],
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        self.channel = channel
        self._on_close = on_close
        self._max_queued = max_queued
        self._items: deque[dict[str, Any]] | None = None
        self._waiters: list[asyncio.Future[None]] | None = None
        self._error: BackendError | None = None
        self.closed = False

    def deliver(self, message: dict[str, Any]) -> bool:
        """Queue one message; False when the subscription is (now) closed."""
        if self.closed:
            return False
        if self._items is None:
            self._items = deque()
        if len(self._items) >= self._max_queued:
            self.end(
                BackendError(
                    f"subscriber to channel {self.channel!r} fell {self._max_queued} messages "
                    "behind and was disconnected; resubscribe and reload state"
                )
            )
            return False
        self._items.append(message)
        self._wake()
        return True

    def end(self, error: BackendError | None = None) -> None:
        """Mark closed without telling the owner (the owner is the caller)."""
        if not self.closed:
            self.closed = True
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def close(self) -> None:
        if not self.closed:
            self.end()
        result = self._on_close(self)
        if asyncio.iscoroutine(result):
            await result

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._items:
            if self.closed:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if self._waiters is not None and waiter in self._waiters:
                    self._waiters.remove(waiter)
        message = self._items.popleft()
        if not self._items:
            self._items = None
        return message


class _LockState:
    """One key's lock: the holder's token, its lease end, and how many tasks use the entry."""

    __slots__ = ("holder", "expires_at", "users", "released")

    def __init__(self) -> None:
        self.holder: object | None = None
        self.expires_at = 0.0
        self.users = 0
        self.released = asyncio.Event()


async def _renew(
    state: _LockState, token: object, lease: float, holder: asyncio.Task[Any] | None
) -> None:
    """Extend the lease every third of it while the holding task runs, like the Redis
    backend: a long block keeps its lock, a holder that is gone frees it one lease later."""
    while True:
        await asyncio.sleep(lease / 3)
        if state.holder is not token or (holder is not None and holder.done()):
            return
        state.expires_at = time.monotonic() + lease


class MemoryBackplane(Backplane):
    shared = False

    def __init__(self, url: str = "memory://", *, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        self.url = url or "memory://"
        self._max_queued = max_queued
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._locks: dict[str, _LockState] = {}
        self._hits: dict[str, tuple[float, int]] = {}  # key -> (window end, count)
        self._channels: dict[str, set[QueueSubscription]] = {}
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for subs in channels.values():
            for sub in subs:
                sub.end()

    async def ping(self) -> None:
        return None

    # -- key-value -----------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        now = time.monotonic()
        self._values[key] = (bytes(value), None if ttl_seconds is None else now + ttl_seconds)
        if now >= self._next_sweep:
            self._sweep(now)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    def _sweep(self, now: float) -> None:
        # Lazy expiry alone would keep keys nobody reads again (abandoned conversations).
        self._next_sweep = now + SWEEP_INTERVAL
        expired = [k for k, (_, exp) in self._values.items() if exp is not None and exp <= now]
        for k in expired:
            del self._values[k]
        for k in [k for k, (end, _) in self._hits.items() if end <= now]:
            del self._hits[k]

    # -- locks ---------------------------------------------------------------------------
    @asynccontextmanager
    async def lock(
        self,
        key: str,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - base.py's contract; spans several waits
        lease: float = 30.0,
        read: Sequence[str] = (),
    ) -> AsyncIterator[Held]:
        state = self._locks.get(key)
        if state is None:
            state = self._locks[key] = _LockState()
        state.users += 1
        token = object()
        try:
            await self._acquire(key, state, token, time.monotonic() + timeout, lease)
            renewal = asyncio.create_task(_renew(state, token, lease, asyncio.current_task()))
            try:
                held = Held({name: await self.get(name) for name in read})
                yield held
                for name, value, ttl in held.sets:
                    await self.set(name, value, ttl)
                for channel, message in held.publishes:
                    await self.publish(channel, message)
            finally:
                renewal.cancel()
                if state.holder is token:  # not taken over after our lease ran out
                    state.holder = None
                    state.released.set()
                    state.released = asyncio.Event()
        finally:
            state.users -= 1
            if state.users == 0 and self._locks.get(key) is state:
                del self._locks[key]

    async def _acquire(
        self, key: str, state: _LockState, token: object, deadline: float, lease: float
    ) -> None:
        timeout = deadline - time.monotonic()
        while True:
            now = time.monotonic()
            if state.holder is None or state.expires_at <= now:
                state.holder, state.expires_at = token, now + lease
                return
            remaining = deadline - now
            if remaining <= 0:
                raise BackendError(f"lock {key!r} not acquired within {timeout:g} seconds")
            # Wake on release, on the holder's lease end, or at our deadline.
            try:
                async with asyncio.timeout(min(remaining, state.expires_at - now)):
                    await state.released.wait()
            except TimeoutError:
                pass

    # -- rate limits ---------------------------------------------------------------------
    async def hit(self, key: str, limit: int, window_seconds: float) -> float:
        now = time.monotonic()
        end, count = self._hits.get(key, (0.0, 0))
        if end <= now:
            # Fixed windows aligned to multiples of the window length, like the Redis backend.
            end, count = (math.floor(now / window_seconds) + 1) * window_seconds, 0
        count += 1
        self._hits[key] = (end, count)
        if now >= self._next_sweep:
            self._sweep(now)
        return 0.0 if count <= limit else max(end - now, 1e-3)

    # -- publish / subscribe -------------------------------------------------------------
    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        # Round-trip through JSON so both backends accept and deliver exactly the same things.
        payload = json.dumps(message)
        subs = self._channels.get(channel)
        if not subs:
            return
        for sub in list(subs):
            if not sub.deliver(json.loads(payload)):
                self._forget(sub)

    async def subscribe(self, channel: str) -> Subscription:
        sub = QueueSubscription(channel, self._forget, self._max_queued)
        self._channels.setdefault(channel, set()).add(sub)
        return sub

    def _forget(self, sub: QueueSubscription) -> None:
        subs = self._channels.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._channels[sub.channel]
