"""Per-key locks in Redis, shared by every process using the same Redis.

A lock is a key set with ``SET NX PX`` to a random token, released by a script that deletes
it only while it still holds that token. Waiters in one process queue on a local
``asyncio.Lock`` per key and are woken in order when the holder leaves: only the first of
them competes in Redis, against other processes, so a busy conversation costs one ``SET``
and one release per turn, not a poll every few milliseconds per waiter.

While the holder runs, a task renews the lease every third of it (``_renew``), so leases
are short (``fanout.LOCK_LEASE``): a process killed with ``kill -9`` blocks its conversations
only until its last lease runs out.

The keys a holder asked to read travel in the acquiring pipeline (read after the ``SET``
succeeded, so after the previous holder's writes), and the writes it asked for travel in
the releasing one: a turn's session context and live events cost no round trips of their
own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import redis.asyncio as aioredis

from smartsupport.backplane.base import Held
from smartsupport.errors import BackendError

log = logging.getLogger(__name__)
STOP_WAIT = 1.0  # seconds a released lock waits for its renewal task to end

# Delete the lock only if it still holds our token: after our lease ran out it may be someone
# else's, and a plain DEL would free their lock.
RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

# Extend the lease only while the lock still holds our token (same reason as above).
RENEW_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def px(ttl_seconds: float | None) -> int | None:
    """A TTL in whole milliseconds for Redis (None: no expiry)."""
    return None if ttl_seconds is None else max(1, round(ttl_seconds * 1000))


class _Waiters:
    """This process's holder and waiters for one key; dropped when the last one leaves."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class RedisLocks:
    def __init__(
        self,
        client: Callable[[], aioredis.Redis],
        prefix: str,
        translate: Callable[[str], AbstractContextManager[None]],
    ) -> None:
        self._client = client  # the backplane's connected client, or it raises
        self._prefix = prefix  # the backplane's: locks under "lock:", values under "kv:"
        self._translate = translate
        self._keys: dict[str, _Waiters] = {}
        self._release: Any = None  # the release script, registered on first use
        self._renew_script: Any = None  # the renewal script, likewise

    @asynccontextmanager
    async def hold(
        self,
        key: str,
        *,
        timeout: float,  # noqa: ASYNC109 - base.py's contract; spans several waits
        lease: float,
        read: Sequence[str],
    ) -> AsyncIterator[Held]:
        deadline = time.monotonic() + timeout
        client = self._client()
        waiters = self._keys.get(key)
        if waiters is None:
            waiters = self._keys[key] = _Waiters()
        waiters.users += 1
        try:
            try:
                async with asyncio.timeout(timeout):
                    await waiters.lock.acquire()
            except TimeoutError:
                raise BackendError(
                    f"lock {key!r} not acquired within {timeout:g} seconds"
                ) from None
            try:
                token, held = await self._acquire(client, key, lease, read, deadline, timeout)
                renewal = asyncio.create_task(
                    self._renew(client, key, token, lease, asyncio.current_task())
                )
                try:
                    yield held
                except BaseException:
                    await _stop(renewal)
                    await self._release_token(client, key, token, None)
                    raise
                await _stop(renewal)
                await self._release_token(client, key, token, held)
            finally:
                waiters.lock.release()
        finally:
            waiters.users -= 1
            if waiters.users == 0 and self._keys.get(key) is waiters:
                del self._keys[key]

    async def _acquire(
        self,
        client: aioredis.Redis,
        key: str,
        lease: float,
        read: Sequence[str],
        deadline: float,
        wait: float,
    ) -> tuple[str, Held]:
        token = uuid.uuid4().hex
        delay = 0.002
        while True:
            with self._translate("taking a lock"):
                async with client.pipeline(transaction=False) as pipe:
                    pipe.set(self._prefix + "lock:" + key, token, nx=True, px=px(lease))
                    for name in read:
                        pipe.get(self._prefix + "kv:" + name)
                    taken, *values = await pipe.execute()
            if taken:
                return token, Held(dict(zip(read, values, strict=True)))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendError(f"lock {key!r} not acquired within {wait:g} seconds")
            # Held by another process: poll with a short, growing backoff. Turns are short,
            # and two processes seldom serve one conversation at the same moment.
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)

    async def _renew(
        self,
        client: aioredis.Redis,
        key: str,
        token: str,
        lease: float,
        holder: asyncio.Task[Any] | None,
    ) -> None:
        """Extend the lease every third of it while the holding task runs: a turn may take
        as long as it needs, and a crashed process (or a holder task that is gone) frees
        the lock one lease after its last renewal. A failed renewal is retried at the next
        beat; the lock lapses only if Redis stays unreachable for a whole lease."""
        if self._renew_script is None:
            self._renew_script = client.register_script(RENEW_LOCK)
        name = self._prefix + "lock:" + key
        while True:
            await asyncio.sleep(lease / 3)
            if holder is not None and holder.done():
                return
            try:
                with self._translate("renewing a lock"):
                    kept = await self._renew_script(
                        keys=[name], args=[token, px(lease)], client=client
                    )
            except BackendError as exc:
                if _cancelling():
                    # redis-py can raise a connection error in place of the cancellation
                    # ``_stop`` sent (redis/redis-py#2028, #2551): retrying would leave
                    # ``_stop``, and so the turn, waiting for this loop forever.
                    return
                log.warning("could not renew lock %r, retrying: %s", key, exc)
                continue
            if not kept:
                log.warning("lock %r lapsed while held (its lease ran out); not renewed", key)
                return

    async def _release_token(
        self, client: aioredis.Redis, key: str, token: str, held: Held | None
    ) -> None:
        """Release the lock, after the holder's writes when ``held`` has any: those fail
        loudly; a failed plain release only logs, since the lease frees the lock anyway."""
        if self._release is None:
            self._release = client.register_script(RELEASE_LOCK)
        name = self._prefix + "lock:" + key
        if held is not None and (held.sets or held.publishes):
            with self._translate("writing and releasing a lock"):
                async with client.pipeline(transaction=False) as pipe:
                    for kv, value, ttl in held.sets:
                        pipe.set(self._prefix + "kv:" + kv, value, px=px(ttl))
                    for channel, message in held.publishes:
                        pipe.publish(self._prefix + "ch:" + channel, json.dumps(message))
                    # EVAL, not the registered script: a pipeline would first ask Redis
                    # whether the script exists, a round trip of its own.
                    pipe.eval(RELEASE_LOCK, 1, name, token)
                    await pipe.execute()
            return
        try:
            with self._translate("releasing a lock"):
                await self._release(keys=[name], args=[token], client=client)
        except BackendError as exc:
            # Not raised: it would hide the body's own outcome; the lease frees the lock.
            log.warning("could not release lock %r, it expires with its lease: %s", key, exc)


async def _stop(renewal: asyncio.Task[None]) -> None:
    renewal.cancel()
    # Bounded, whatever the Redis client does with the cancellation: a renewal still running
    # after this finds the lock released at its next beat and ends.
    await asyncio.wait({renewal}, timeout=STOP_WAIT)
    if renewal.done() and not renewal.cancelled():
        renewal.exception()  # retrieved: a failure here is not news


def _cancelling() -> bool:
    """Whether this task was asked to stop (even if the exception that says so was lost)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
