"""Per-key locks in Redis, shared by every process using the same Redis.

A lock is a key set with ``SET NX PX`` to a random token, released by a script that deletes
it only while it still holds that token. Waiters in one process queue on a local
``asyncio.Lock`` per key and are woken in order when the holder leaves: only the first of
them competes in Redis, against other processes, so a busy conversation costs one ``SET``
and one release per turn, not a poll every few milliseconds per waiter.

While a holder runs, its lease is renewed every third of it, so leases are short
(``fanout.LOCK_LEASE``): a process killed with ``kill -9`` blocks its conversations only until
its last lease runs out. One renewer task per process renews every lease that is due in one
pipeline (``_renew_due``): a turn adds its lease to a set and takes it out again, with no task
of its own to start, cancel and wait for (most turns end long before their first renewal).

The keys a holder asked to read travel in the acquiring pipeline (read after the ``SET``
succeeded, so after the previous holder's writes), and the writes it asked for travel in
the releasing one: a turn's session context and live events cost no round trips of their
own; once Redis has taken the events they go to this process's subscribers (``publishing``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import Any

import redis.asyncio as aioredis

from smartsupport import stopping
from smartsupport.backplane.base import Held
from smartsupport.errors import BackendError

log = logging.getLogger(__name__)

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


class _Lease:
    """A lock this process holds, and when its lease is next renewed (monotonic seconds)."""

    __slots__ = ("name", "token", "lease", "due", "holder")

    def __init__(
        self, name: str, token: str, lease: float, holder: asyncio.Task[Any] | None
    ) -> None:
        self.name = name
        self.token = token
        self.lease = lease
        self.due = time.monotonic() + lease / 3
        self.holder = holder


class RedisLocks:
    def __init__(
        self,
        client: Callable[[], aioredis.Redis],
        prefix: str,
        translate: Callable[[str], AbstractContextManager[None]],
        publishing: Callable[[Sequence[tuple[str, str]]], AbstractAsyncContextManager[None]],
    ) -> None:
        self._client = client  # the backplane's connected client, or it raises
        # Around publishing (channel, payload) pairs: they also go to this process's
        # subscribers once Redis has them (RedisBackplane._publishing).
        self._publishing = publishing
        self._prefix = prefix  # the backplane's: locks under "lock:", values under "kv:"
        self._translate = translate
        self._keys: dict[str, _Waiters] = {}
        self._release: Any = None  # the release script, registered on first use
        self._leases: set[_Lease] = set()  # held here, renewed by ``_renewer``
        self._renewer: asyncio.Task[None] | None = None
        # Set when a lease due before the renewer's next beat is added; one per renewer task,
        # so it belongs to the event loop that task runs on.
        self._wake = asyncio.Event()
        self._next_beat = 0.0

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
                leased = _Lease(self._prefix + "lock:" + key, token, lease, asyncio.current_task())
                self._renew_while_held(leased)
                try:
                    yield held
                except BaseException:
                    self._leases.discard(leased)
                    await self._release_token(client, key, token, None)
                    raise
                self._leases.discard(leased)
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

    def _renew_while_held(self, leased: _Lease) -> None:
        self._leases.add(leased)
        if self._renewer is None or self._renewer.done():
            self._wake = asyncio.Event()
            self._renewer = asyncio.get_running_loop().create_task(
                self._renew_leases(), name="redis-lock-renewer"
            )
        elif leased.due < self._next_beat:  # a shorter lease than those it sleeps for
            self._wake.set()

    async def _renew_leases(self) -> None:
        """Renew each lease every third of it while its holder runs: a turn may take as long
        as it needs, and a crashed process (or a holder task that is gone) frees the lock one
        lease after its last renewal. A failed renewal is retried at the next beat; the lock
        lapses only if Redis stays unreachable for a whole lease. Ends when nothing is held
        (the next lock starts it again)."""
        while self._leases:
            stopping.stop_if_cancelled()
            self._next_beat = min(leased.due for leased in self._leases)
            self._wake.clear()
            try:
                async with asyncio.timeout(max(0.0, self._next_beat - time.monotonic())):
                    await self._wake.wait()
                continue  # a lease due sooner was added: sleep until it is due
            except TimeoutError:
                pass
            now = time.monotonic()
            for leased in [x for x in self._leases if x.holder is not None and x.holder.done()]:
                self._leases.discard(leased)  # its holder is gone without releasing it
            # Those due within a sixth of their lease too: renewing a little early keeps
            # leases taken a few milliseconds apart in one pipeline, beat after beat, instead
            # of splitting them into a round trip each.
            due = [x for x in self._leases if x.due <= now + x.lease / 6]
            if due:
                await self._renew_due(due)

    async def _renew_due(self, due: list[_Lease]) -> None:
        """One pipeline for every lease due now."""
        try:
            with self._translate("renewing locks"):
                async with self._client().pipeline(transaction=False) as pipe:
                    for leased in due:
                        # EVAL, not the registered script: see _release_token.
                        pipe.eval(RENEW_LOCK, 1, leased.name, leased.token, px(leased.lease) or 1)
                    kept = await pipe.execute()
        except BackendError as exc:
            if _cancelling():
                # redis-py can raise a connection error in place of the cancellation ``close``
                # sent (redis/redis-py#2028, #2551): retrying would keep the renewer running.
                raise asyncio.CancelledError from exc
            log.warning("could not renew %d lock(s), retrying: %s", len(due), exc)
            kept = [None] * len(due)
        except Exception:  # a bug must not stop every renewal of this process
            log.exception("unexpected error renewing %d lock(s), retrying", len(due))
            kept = [None] * len(due)
        now = time.monotonic()
        for leased, renewed in zip(due, kept, strict=True):
            if leased not in self._leases:
                continue  # released meanwhile: the script found another token, or none
            if renewed == 0:
                log.warning("lock %r lapsed while held (its lease ran out)", leased.name)
                self._leases.discard(leased)
            else:  # renewed, or retried at the next beat
                leased.due = now + leased.lease / 3

    async def close(self) -> None:
        """Stop renewing (the backplane is closing: every lease runs out)."""
        renewer, self._renewer = self._renewer, None
        self._leases.clear()
        await stopping.stop(renewer)

    async def _release_token(
        self, client: aioredis.Redis, key: str, token: str, held: Held | None
    ) -> None:
        """Release the lock, after the holder's writes when ``held`` has any: those fail
        loudly; a failed plain release only logs, since the lease frees the lock anyway."""
        if self._release is None:
            self._release = client.register_script(RELEASE_LOCK)
        name = self._prefix + "lock:" + key
        if held is not None and (held.sets or held.publishes):
            published = [(channel, json.dumps(message)) for channel, message in held.publishes]
            async with self._publishing(published):
                with self._translate("writing and releasing a lock"):
                    async with client.pipeline(transaction=False) as pipe:
                        for kv, value, ttl in held.sets:
                            pipe.set(self._prefix + "kv:" + kv, value, px=px(ttl))
                        for channel, payload in published:
                            pipe.publish(self._prefix + "ch:" + channel, payload)
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


def _cancelling() -> bool:
    """Whether this task was asked to stop (even if the exception that says so was lost)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
