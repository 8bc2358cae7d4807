"""The Redis backplane: state shared by every server process pointing at the same Redis.

Every key and channel is namespaced by the URL's ``prefix=`` query parameter (default
``smartsupport:``), then by kind: ``kv:``, ``lock:``, ``rate:`` and ``ch:``.

Pub/sub uses ONE Redis connection per backplane, however many local subscribers there are:
channels are reference-counted, and a reader task fans each message out to the local
subscriber queues. The reader is the only one reading that connection, so ``subscribe()``
waits for the reader to see Redis confirm the SUBSCRIBE before returning. What this process
publishes reaches its own subscribers as soon as Redis has taken it, and the reader skips the
copy Redis sends back (``echoes.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from smartsupport import stopping
from smartsupport.backplane.base import RESYNC, Backplane, Held, Subscription
from smartsupport.backplane.echoes import Echoes
from smartsupport.backplane.memory import DEFAULT_MAX_QUEUED, QueueSubscription
from smartsupport.backplane.redis_lock import RedisLocks, px
from smartsupport.errors import BackendError, BackendUnavailable, ConfigurationError
from smartsupport.remote import backoff

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "smartsupport:"
SUBSCRIBE_TIMEOUT = 10.0
MAX_CONNECTIONS = 100
POOL_TIMEOUT = 10.0  # seconds a command may wait for a free connection
RESYNC_PAYLOAD = json.dumps(RESYNC).encode()
PING_EVERY = 15.0  # seconds of a quiet pub/sub connection before it is pinged
COMMAND_TIMEOUT = 5.0  # seconds one command may take (SMARTSUPPORT_REDIS_TIMEOUT_SECONDS)


# One command instead of a MULTI/INCR/PEXPIRE/EXEC pipeline: it is on every customer message.
COUNT_HIT = """
local count = redis.call('incr', KEYS[1])
redis.call('pexpire', KEYS[1], ARGV[1])
return count
"""


def split_prefix(url: str) -> tuple[str, str]:
    """(the URL without ``prefix=``, the prefix). redis-py rejects unknown query options."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = DEFAULT_PREFIX
    kept = []
    for name, value in query:
        if name == "prefix":
            prefix = value
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), prefix


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class RedisBackplane(Backplane):
    def __init__(
        self,
        url: str,
        *,
        max_queued: int = DEFAULT_MAX_QUEUED,
        subscribe_timeout: float = SUBSCRIBE_TIMEOUT,
        ping_every: float = PING_EVERY,
        command_timeout: float | None = None,
    ) -> None:
        self.url = url
        self._redis_url, self.prefix = split_prefix(url)
        self._where = _redacted(self._redis_url)
        self._max_queued = max_queued
        self._subscribe_timeout = subscribe_timeout
        self._ping_every = ping_every
        self._command_timeout = command_timeout or COMMAND_TIMEOUT
        # A name per instance, so operators (and the reconnect test) can tell clients apart.
        self.client_name = f"smartsupport-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None  # redis.asyncio.client.PubSub, created on first subscribe
        self._reader: asyncio.Task[None] | None = None
        self._subs: dict[str, set[QueueSubscription]] = {}
        # SUBSCRIBE commands awaiting Redis's confirmation, oldest first, per channel.
        self._pending: dict[str, deque[asyncio.Future[None]]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._sub_lock = asyncio.Lock()
        self._count_hit: Any = None  # the COUNT_HIT script, registered on first use
        self._echoes = Echoes()
        self._locks = RedisLocks(self._redis, self.prefix, self._translate, self._publishing)

    # -- connection ----------------------------------------------------------------------
    @contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise BackendUnavailable(
                f"Redis at {self._where} cannot be reached while {doing}: {exc}"
            ) from exc
        except RedisError as exc:
            raise BackendError(f"Redis failed while {doing}: {exc}") from exc

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            raise BackendError("the Redis backplane is not connected: call connect() first")
        return self._client

    async def connect(self) -> None:
        if self._client is not None:
            return
        try:
            # Under a burst, a command waits for a free connection instead of failing the
            # turn (redis-py's default pool raises at 100); ?max_connections= overrides.
            pool = aioredis.BlockingConnectionPool.from_url(
                self._redis_url,
                max_connections=MAX_CONNECTIONS,
                timeout=POOL_TIMEOUT,
                client_name=self.client_name,
                socket_connect_timeout=5,
                # A server that stops answering (stopped, a silent link) fails the command
                # after this long (a BackendUnavailable: 503, close 1013) instead of hanging
                # the turn; the pub/sub reader passes its own read timeouts.
                socket_timeout=self._command_timeout,
                # Fail fast on a dead server; the pub/sub reader retries on its own. A
                # timed-out command is not retried: it may have run (an INCR, a lock) and
                # its answer is unknown; its connection is dropped with it.
                retry=Retry(
                    ExponentialWithJitterBackoff(base=0.01, cap=0.5),
                    3,
                    supported_errors=(RedisConnectionError,),
                ),
            )
            client = aioredis.Redis.from_pool(pool)
        except ValueError as exc:  # redis-py's verdict on a malformed URL or option
            raise ConfigurationError(
                f"invalid Redis URL {self._where}: {exc}; fix SMARTSUPPORT_REDIS_URL"
            ) from exc
        try:
            with self._translate("connecting"):
                await client.ping()
        except BaseException:
            await client.aclose()
            raise
        self._client = client

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        await stopping.stop(reader)
        await self._locks.close()
        subs, self._subs = self._subs, {}
        for channel_subs in subs.values():
            for sub in channel_subs:
                sub.end()
        for waiters in self._pending.values():
            for waiter in waiters:
                if not waiter.done():  # its subscribe() returns an already ended subscription
                    waiter.set_result(None)
        self._pending.clear()
        self._confirmed.clear()
        self._echoes = Echoes()
        pubsub, self._pubsub = self._pubsub, None
        client, self._client = self._client, None
        try:
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()
        except RedisError as exc:  # the server may already be gone; nothing left to release
            log.debug("closing the Redis backplane: %s", exc)

    async def ping(self) -> None:
        if self._client is None:
            raise BackendUnavailable(f"Redis at {self._where} is not connected")
        with self._translate("pinging"):
            await self._client.ping()

    # -- key-value -----------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        with self._translate("reading a key"):
            value = await self._redis().get(self.prefix + "kv:" + key)
        return cast(bytes | None, value)  # no decode_responses: always bytes

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        with self._translate("writing a key"):
            await self._redis().set(self.prefix + "kv:" + key, value, px=px(ttl_seconds))

    async def set_many(self, items: Sequence[tuple[str, bytes, float | None]]) -> None:
        with self._translate("writing keys"):
            async with self._redis().pipeline(transaction=False) as pipe:
                for key, value, ttl_seconds in items:
                    pipe.set(self.prefix + "kv:" + key, value, px=px(ttl_seconds))
                await pipe.execute()

    async def delete(self, key: str) -> None:
        with self._translate("deleting a key"):
            await self._redis().delete(self.prefix + "kv:" + key)

    # -- locks ---------------------------------------------------------------------------
    def lock(
        self, key: str, *, timeout: float = 10.0, lease: float = 30.0, read: Sequence[str] = ()
    ) -> AbstractAsyncContextManager[Held]:
        return self._locks.hold(key, timeout=timeout, lease=lease, read=read)

    # -- rate limits ---------------------------------------------------------------------
    async def hit(self, key: str, limit: int, window_seconds: float) -> float:
        now = time.time()
        window = math.floor(now / window_seconds)
        name = f"{self.prefix}rate:{key}:{window}"
        # A margin beyond the window end so clock skew between servers never resets a
        # window early.
        ttl_ms = math.ceil(window_seconds * 1000) + 1000
        with self._translate("counting a rate limit"):
            if self._count_hit is None:
                self._count_hit = self._redis().register_script(COUNT_HIT)
            count = await self._count_hit(keys=[name], args=[ttl_ms], client=self._redis())
        if count <= limit:
            return 0.0
        return max((window + 1) * window_seconds - now, 1e-3)

    # -- publish / subscribe -------------------------------------------------------------
    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        payload = json.dumps(message)
        async with self._publishing([(channel, payload)]):
            with self._translate("publishing"):
                await self._redis().publish(self.prefix + "ch:" + channel, payload)

    @asynccontextmanager
    async def _publishing(self, published: Sequence[tuple[str, str]]) -> AsyncIterator[None]:
        """Around the command that publishes (channel, payload) pairs: once Redis has taken
        them, hand them to this process's subscribers without waiting for Redis to send them
        back to the reader (a round trip and a pass of the event loop). The echoes are
        expected before the command goes out: the reader may read one before the command's
        own reply is read."""
        expected = [(channel, payload) for channel, payload in published if self._subs.get(channel)]
        for channel, payload in expected:
            self._echoes.expect(channel, payload.encode())
        try:
            yield
        except BaseException:
            for channel, payload in expected:
                self._echoes.take(channel, payload.encode())
            raise
        dropped: list[QueueSubscription] = []
        for channel, payload in expected:
            # Each subscriber gets its own copy, as from the reader.
            subs = list(self._subs.get(channel, ()))
            dropped += [sub for sub in subs if not sub.deliver(json.loads(payload))]
        for sub in dropped:
            await self._unsubscribe(sub)

    async def subscribe(self, channel: str) -> Subscription:
        client = self._redis()
        sub = QueueSubscription(channel, self._unsubscribe, self._max_queued)
        async with self._sub_lock:
            if self._pubsub is None:
                pubsub = client.pubsub()
                try:
                    with self._translate("opening the pub/sub connection"):
                        await pubsub.connect()  # type: ignore[no-untyped-call]
                except BaseException:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    raise
                self._pubsub = pubsub
                self._reader = asyncio.create_task(self._read_loop(pubsub))
            subs = self._subs.get(channel)
            if subs:
                subs.add(sub)
                confirmed = self._confirmed[channel]
            else:
                confirmed = asyncio.get_running_loop().create_future()
                self._pending.setdefault(channel, deque()).append(confirmed)
                self._confirmed[channel] = confirmed
                self._subs[channel] = {sub}
                try:
                    with self._translate("subscribing"):
                        await self._pubsub.subscribe(self.prefix + "ch:" + channel)
                except BaseException:
                    self._subs.pop(channel, None)
                    self._confirmed.pop(channel, None)
                    pending = self._pending.get(channel)
                    if pending and confirmed in pending:
                        pending.remove(confirmed)
                    raise
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await asyncio.shield(confirmed)
        except TimeoutError:
            await sub.close()
            raise BackendUnavailable(
                f"Redis at {self._where} did not confirm the subscription to {channel!r} "
                f"within {self._subscribe_timeout} seconds"
            ) from None
        except BaseException:
            await sub.close()
            raise
        return sub

    async def _unsubscribe(self, sub: QueueSubscription) -> None:
        async with self._sub_lock:
            subs = self._subs.get(sub.channel)
            if subs is None or sub not in subs:
                return
            subs.discard(sub)
            if subs:
                return
            del self._subs[sub.channel]
            self._confirmed.pop(sub.channel, None)
            if self._pubsub is None:
                return
            try:
                with self._translate("unsubscribing"):
                    await self._pubsub.unsubscribe(self.prefix + "ch:" + sub.channel)
            except BackendError as exc:
                # Harmless: messages for a channel without local subscribers are dropped.
                log.warning("could not unsubscribe from %r: %s", sub.channel, exc)

    async def _read_loop(self, pubsub: Any) -> None:
        """Read the shared pub/sub connection forever, fanning messages out locally.

        redis-py reconnects a dropped connection when it is next read and re-subscribes every
        channel; this loop backs off while the server stays unreachable, drops a connection
        that does not answer a PING within ``ping_every`` seconds, and turns each
        resubscription's confirmation into ``RESYNC`` for that channel's subscribers."""
        channel_start = len(self.prefix) + len("ch:")
        failures = 0
        pinged = False
        while True:
            try:
                message = await pubsub.get_message(timeout=self._ping_every)
                if message is None:
                    # Quiet for a while: a PING tells a quiet connection from one that died
                    # without a word (a failover, a dropped NAT entry), which would
                    # otherwise wait for the operating system to notice, for minutes.
                    if pinged:
                        raise RedisConnectionError("no answer to a PING on the pub/sub connection")
                    await pubsub.ping()
                    pinged = True
                    continue
                pinged = False
            except (RedisError, OSError) as exc:
                pinged = False
                if pubsub.connection is not None:  # read again on a fresh connection
                    await pubsub.connection.disconnect()
                failures += 1
                delay = backoff(failures, base=0.05, cap=2.0)
                log.warning("Redis pub/sub connection lost, retrying in %.2fs: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            except Exception:  # a bug must not silently stop every subscription
                failures += 1
                log.exception("unexpected error reading Redis pub/sub")
                await asyncio.sleep(backoff(failures, base=0.05, cap=2.0))
                continue
            failures = 0
            if message is None or not isinstance(message.get("channel"), bytes):
                continue
            channel = message["channel"].decode()[channel_start:]
            if message["type"] == "subscribe":
                # A reply to our SUBSCRIBE, or to redis-py's resubscription after a reconnect:
                # either way Redis now delivers this channel to us.
                pending = self._pending.get(channel)
                if pending:
                    waiter = pending.popleft()
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    self._echoes.forget(channel)
                    await self._resync(channel)
                if not pending:
                    self._pending.pop(channel, None)
            elif message["type"] == "message":
                if not self._echoes.take(channel, message["data"]):
                    await self._fan_out(channel, message["data"])

    async def _resync(self, channel: str) -> None:
        """The channel is delivered again after a reconnect: what was published while the
        connection was down is lost, so its subscribers are told to reload."""
        log.info("Redis pub/sub resubscribed to %r; its subscribers resynchronise", channel)
        await self._fan_out(channel, RESYNC_PAYLOAD)

    async def _fan_out(self, channel: str, data: bytes) -> None:
        subs = self._subs.get(channel)
        if not subs:
            return
        try:
            json.loads(data)
        except ValueError:
            log.warning("dropping a non-JSON message on channel %r", channel)
            return
        # Each subscriber gets its own copy, so one consumer mutating a message cannot
        # change what the others see (the memory backend behaves the same).
        dropped = [sub for sub in list(subs) if not sub.deliver(json.loads(data))]
        for sub in dropped:
            await self._unsubscribe(sub)
