"""One contract suite for every backplane: the in-process one and real Redis.

``peer`` is a second handle on the same shared state: the same object for memory (one
process), a second RedisBackplane on the same Redis and prefix (a second server process).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from smartsupport.backplane import echoes, open_backplane
from smartsupport.backplane.base import RESYNC, Backplane, Subscription
from smartsupport.backplane.memory import MemoryBackplane
from smartsupport.backplane.redis import RedisBackplane, split_prefix
from smartsupport.errors import BackendError, BackendUnavailable, ConfigurationError


@pytest.fixture(params=["memory", "redis"])
def backplane_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url")


@pytest.fixture
async def bp(backplane_url: str) -> AsyncIterator[Backplane]:
    backplane = open_backplane(backplane_url)
    await backplane.connect()
    yield backplane
    await backplane.close()


@pytest.fixture
async def peer(bp: Backplane, backplane_url: str) -> AsyncIterator[Backplane]:
    if isinstance(bp, MemoryBackplane):
        yield bp
        return
    other = open_backplane(backplane_url)
    await other.connect()
    yield other
    await other.close()


def build(url: str, **options: int) -> Backplane:
    if url.startswith("memory"):
        return MemoryBackplane(url, **options)
    return RedisBackplane(url, **options)


async def receive(sub: Subscription, count: int, within: float = 5.0) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(within):
        async for message in sub:
            got.append(message)
            if len(got) == count:
                break
    return got


async def nothing_arrives(sub: Subscription, wait: float = 0.2) -> bool:
    try:
        await receive(sub, 1, within=wait)
    except TimeoutError:
        return True
    return False


# -- choosing a backend ----------------------------------------------------------------
def test_open_backplane_picks_the_backend_from_the_url_without_connecting() -> None:
    assert isinstance(open_backplane(""), MemoryBackplane)
    assert isinstance(open_backplane("memory://"), MemoryBackplane)
    # Port 1 has no server: building must not touch the network.
    remote = open_backplane("rediss://127.0.0.1:1/0?prefix=x:")
    assert isinstance(remote, RedisBackplane)
    assert remote.prefix == "x:"


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"memory://, redis://, rediss://"):
        open_backplane("mongodb://localhost/")


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigurationError, match=r"smartsupport\[redis\]"):
        open_backplane("redis://127.0.0.1:6379/0")


def test_prefix_is_stripped_before_redis_sees_the_url() -> None:
    assert split_prefix("redis://h:6379/0?prefix=a:&ssl_cert_reqs=none") == (
        "redis://h:6379/0?ssl_cert_reqs=none",
        "a:",
    )
    assert split_prefix("redis://h/0") == ("redis://h/0", "smartsupport:")


async def test_malformed_redis_options_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SMARTSUPPORT_REDIS_URL"):
        await open_backplane("redis://127.0.0.1:6379/0?socket_timeout=soon").connect()


async def test_unreachable_redis_raises_backend_unavailable() -> None:
    backplane = open_backplane("redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="127.0.0.1:1"):
        await backplane.connect()
    assert time.monotonic() - started < 5
    with pytest.raises(BackendUnavailable):
        await backplane.ping()
    await backplane.close()
    await backplane.close()  # safe twice


# -- key-value -------------------------------------------------------------------------
async def test_get_returns_the_stored_value_and_none_when_missing(bp: Backplane) -> None:
    assert await bp.get("k") is None
    await bp.set("k", b"\x00one")
    assert await bp.get("k") == b"\x00one"
    await bp.set("k", b"two")
    assert await bp.get("k") == b"two"
    await bp.ping()


async def test_values_expire_after_their_ttl(bp: Backplane, peer: Backplane) -> None:
    await bp.set("short", b"v", ttl_seconds=0.2)
    await bp.set("forever", b"v")
    assert await peer.get("short") == b"v"
    await asyncio.sleep(0.35)
    assert await peer.get("short") is None
    assert await peer.get("forever") == b"v"


async def test_setting_without_ttl_clears_an_earlier_ttl(bp: Backplane) -> None:
    await bp.set("k", b"a", ttl_seconds=0.1)
    await bp.set("k", b"b")
    await asyncio.sleep(0.2)
    assert await bp.get("k") == b"b"


async def test_set_many_writes_every_key_with_its_own_ttl(bp: Backplane, peer: Backplane) -> None:
    await bp.set("kept", b"old", ttl_seconds=0.1)
    await bp.set_many([("short", b"s", 0.2), ("kept", b"k", None), ("other", b"o", 30)])
    assert [await peer.get(k) for k in ("short", "kept", "other")] == [b"s", b"k", b"o"]
    await asyncio.sleep(0.35)
    assert [await peer.get(k) for k in ("short", "kept", "other")] == [None, b"k", b"o"]
    await bp.set_many([])


async def test_delete_removes_the_key(bp: Backplane, peer: Backplane) -> None:
    await bp.set("k", b"v")
    await peer.delete("k")
    assert await bp.get("k") is None
    await bp.delete("never-set")


# -- locks -----------------------------------------------------------------------------
async def test_lock_admits_one_holder_at_a_time(bp: Backplane, peer: Backplane) -> None:
    inside = 0
    most = 0
    counter = 0

    async def turn(backplane: Backplane) -> None:
        nonlocal inside, most, counter
        async with backplane.lock("conversation-1", timeout=20):
            inside += 1
            most = max(most, inside)
            seen = counter
            await asyncio.sleep(0.001)
            counter = seen + 1
            inside -= 1

    await asyncio.gather(*(turn(bp if i % 2 else peer) for i in range(40)))
    assert most == 1
    assert counter == 40


async def test_locks_on_different_keys_do_not_wait_for_each_other(bp: Backplane) -> None:
    async with bp.lock("a"):
        async with asyncio.timeout(1):
            async with bp.lock("b", timeout=0.5):
                pass


async def test_lock_timeout_raises_backend_error(bp: Backplane, peer: Backplane) -> None:
    async with bp.lock("busy"):
        started = time.monotonic()
        with pytest.raises(BackendError, match="busy"):
            async with peer.lock("busy", timeout=0.2):
                pytest.fail("entered a held lock")
        assert 0.2 <= time.monotonic() - started < 2
    async with peer.lock("busy", timeout=0.5):  # free again after release
        pass


async def test_lease_expiry_frees_a_crashed_holders_lock(bp: Backplane, peer: Backplane) -> None:
    crashed = bp.lock("k", lease=0.3)
    # A holder that dies without releasing: its task ends, so its lease is not renewed.
    await asyncio.create_task(crashed.__aenter__())
    started = time.monotonic()
    async with peer.lock("k", timeout=5, lease=10):
        assert time.monotonic() - started >= 0.25
        # The late holder waking up must not release the lock it no longer owns.
        await crashed.__aexit__(None, None, None)
        with pytest.raises(BackendError):
            async with bp.lock("k", timeout=0.1):
                pass


async def test_lock_is_released_when_the_body_raises(bp: Backplane) -> None:
    with pytest.raises(ValueError):
        async with bp.lock("k"):
            raise ValueError("boom")
    async with bp.lock("k", timeout=0.2):
        pass


async def test_waiters_in_one_process_queue_locally_instead_of_polling_redis(
    redis_url: str,
) -> None:
    backplane = RedisBackplane(redis_url)
    await backplane.connect()
    client = backplane._redis()
    real_pipeline = client.pipeline
    attempts = 0

    def counted_pipeline(*args, **kwargs):  # each try to take the lock is one pipeline
        nonlocal attempts
        attempts += 1
        return real_pipeline(*args, **kwargs)

    client.pipeline = counted_pipeline  # type: ignore[method-assign]
    order: list[int] = []

    async def turn(i: int) -> None:
        async with backplane.lock("conversation-1", timeout=5):
            order.append(i)

    try:
        async with backplane.lock("conversation-1"):
            waiters = [asyncio.create_task(turn(i)) for i in range(10)]
            await asyncio.sleep(0.3)  # long enough for many polls, had they polled
        await asyncio.gather(*waiters)
    finally:
        await backplane.close()
    assert order == list(range(10))  # first come, first served
    assert attempts == 11  # one try each: the holder's and each waiter's, in turn
    assert backplane._locks._keys == {}


async def test_lock_reads_keys_once_held_and_writes_before_release(
    bp: Backplane, peer: Backplane
) -> None:
    await bp.set("session", b"first")
    room = await bp.subscribe("room")
    async with peer.lock("k", read=["session", "missing"]) as held:
        assert held.values == {"session": b"first", "missing": None}
        held.on_release(sets=[("session", b"second", None)], publishes=[("room", {"n": 1})])
        held.on_release(sets=[("short", b"s", 0.2)], publishes=[("room", {"n": 2})])
        assert await bp.get("session") == b"first"  # not yet: when the lock is released
    assert await receive(room, 2) == [{"n": 1}, {"n": 2}]
    # The next holder reads what the previous one wrote.
    async with bp.lock("k", timeout=1, read=["session", "short"]) as held:
        assert held.values == {"session": b"second", "short": b"s"}
    await asyncio.sleep(0.3)
    assert await bp.get("short") is None  # its TTL applied
    await room.close()


async def test_writes_asked_for_are_dropped_when_the_block_raises(bp: Backplane) -> None:
    with pytest.raises(ValueError):
        async with bp.lock("k") as held:
            held.on_release(sets=[("session", b"v", None)])
            raise ValueError("boom")
    assert await bp.get("session") is None
    async with bp.lock("k", timeout=0.2):  # released all the same
        pass


async def test_memory_locks_leave_nothing_behind() -> None:
    backplane = MemoryBackplane()
    for i in range(1000):
        async with backplane.lock(f"conversation-{i}"):
            pass
    assert backplane._locks == {}


# -- rate limits -----------------------------------------------------------------------
async def test_rate_limit_allows_exactly_limit_hits(bp: Backplane, peer: Backplane) -> None:
    # A long window, so the few milliseconds of this test never straddle a window boundary.
    results = [await (bp if i % 2 else peer).hit("visitor", 5, 3600) for i in range(7)]
    assert results[:5] == [0, 0, 0, 0, 0]
    assert all(0 < r <= 3600 for r in results[5:])
    assert await bp.hit("someone-else", 5, 3600) == 0


async def test_rate_limit_resets_after_the_window(bp: Backplane) -> None:
    retry_after = 0.0
    for _ in range(10):
        retry_after = await bp.hit("visitor", 3, 0.3)
        if retry_after:
            break
    assert 0 < retry_after <= 0.3
    await asyncio.sleep(retry_after + 0.02)
    assert await bp.hit("visitor", 3, 0.3) == 0


# -- publish / subscribe ---------------------------------------------------------------
async def test_publish_reaches_every_subscriber_in_order(bp: Backplane, peer: Backplane) -> None:
    first = await bp.subscribe("room-a")
    second = await peer.subscribe("room-a")
    other = await bp.subscribe("room-b")
    for i in range(30):
        await peer.publish("room-a", {"n": i, "text": "héllo"})
    await bp.publish("room-b", {"n": "b"})
    expected = [{"n": i, "text": "héllo"} for i in range(30)]
    assert await receive(first, 30) == expected
    assert await receive(second, 30) == expected
    assert await receive(other, 1) == [{"n": "b"}]
    assert await nothing_arrives(other)
    for sub in (first, second, other):
        await sub.close()


async def test_subscribe_then_publish_misses_nothing(bp: Backplane, peer: Backplane) -> None:
    for i in range(25):
        sub = await bp.subscribe(f"fresh-{i}")
        await peer.publish(f"fresh-{i}", {"i": i})
        assert await receive(sub, 1) == [{"i": i}]
        await sub.close()


async def test_resubscribing_right_after_closing_still_receives(bp: Backplane) -> None:
    for i in range(20):
        sub = await bp.subscribe("churn")
        await sub.close()
        sub = await bp.subscribe("churn")
        await bp.publish("churn", {"i": i})
        assert await receive(sub, 1) == [{"i": i}]
        await sub.close()


async def test_closing_a_subscription_ends_iteration(bp: Backplane) -> None:
    sub = await bp.subscribe("room")
    staying = await bp.subscribe("room")
    got: list[dict] = []

    async def consume() -> None:
        async for message in sub:
            got.append(message)

    task = asyncio.create_task(consume())
    await bp.publish("room", {"n": 1})
    await asyncio.sleep(0.1)
    await sub.close()
    await asyncio.wait_for(task, 2)
    assert got == [{"n": 1}]
    await bp.publish("room", {"n": 2})  # the other subscriber is unaffected
    assert await receive(staying, 2) == [{"n": 1}, {"n": 2}]
    await sub.close()  # safe twice


async def test_closing_the_backplane_ends_every_subscription(backplane_url: str) -> None:
    backplane = open_backplane(backplane_url)
    await backplane.connect()
    subs = [await backplane.subscribe(f"room-{i % 2}") for i in range(4)]
    await backplane.close()
    for sub in subs:
        assert await receive(sub, 1, within=2) == []
    await backplane.close()


async def test_slow_subscriber_is_dropped_without_hurting_others(backplane_url: str) -> None:
    backplane = build(backplane_url, max_queued=5)
    await backplane.connect()
    try:
        slow = await backplane.subscribe("room")
        fast = await backplane.subscribe("room")
        for i in range(20):
            await backplane.publish("room", {"i": i})
            assert await receive(fast, 1) == [{"i": i}]
        got = []
        with pytest.raises(BackendError, match="fell 5 messages behind"):
            async with asyncio.timeout(2):
                async for message in slow:
                    got.append(message)
        assert got == [{"i": i} for i in range(5)]
    finally:
        await backplane.close()


# -- Redis only: one connection, reconnection, prefixes ----------------------------------
async def pubsub_client(redis_url: str, name: str) -> dict:
    raw = aioredis.from_url(split_prefix(redis_url)[0])
    try:
        clients = [c for c in await raw.client_list() if c.get("name") == name]
    finally:
        await raw.aclose()
    subscribed = [c for c in clients if int(c.get("sub", 0)) > 0 or c.get("cmd") == "subscribe"]
    assert len(subscribed) == 1, clients
    return subscribed[0]


async def test_redis_multiplexes_all_subscriptions_on_one_connection(redis_url: str) -> None:
    backplane = RedisBackplane(redis_url)
    await backplane.connect()
    try:
        subs = await asyncio.gather(*(backplane.subscribe(f"room-{i % 50}") for i in range(300)))
        info = await pubsub_client(redis_url, backplane.client_name)
        assert int(info["sub"]) == 50
        await backplane.publish("room-7", {"hi": 1})
        for sub in subs[7::50]:
            assert await receive(sub, 1) == [{"hi": 1}]
        for sub in subs[:-1]:
            await sub.close()
        assert int((await pubsub_client(redis_url, backplane.client_name))["sub"]) == 1
    finally:
        await backplane.close()


async def test_a_process_s_own_subscribers_get_its_publishes_without_redis_s_echo(
    redis_url: str,
) -> None:
    bp, peer = RedisBackplane(redis_url), RedisBackplane(redis_url)
    await bp.connect()
    await peer.connect()
    fanned: list[str] = []
    fan_out = bp._fan_out  # type: ignore[attr-defined]

    async def counted(channel: str, data: bytes) -> None:
        fanned.append(channel)
        await fan_out(channel, data)

    bp._fan_out = counted  # type: ignore[method-assign]
    try:
        mine, theirs = await bp.subscribe("room"), await peer.subscribe("room")
        await bp.publish("room", {"n": 1})
        async with bp.lock("conversation") as held:
            held.on_release(publishes=[("room", {"n": 2}), ("elsewhere", {"n": 0})])
        await peer.publish("room", {"n": 3})
        # Ours were handed over as Redis took them; Redis's copies of them are skipped, and
        # what another process publishes still comes through the reader.
        assert await receive(mine, 3) == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert await receive(theirs, 3) == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert await nothing_arrives(mine) and await nothing_arrives(theirs)
        assert fanned == ["room"] and len(bp._echoes) == 0  # type: ignore[attr-defined]
    finally:
        await bp.close()
        await peer.close()


async def test_an_echo_read_before_the_publish_s_own_reply_is_still_skipped(
    redis_url: str,
) -> None:
    bp = RedisBackplane(redis_url)
    await bp.connect()
    raw = aioredis.from_url(split_prefix(redis_url)[0])
    try:
        mine = await bp.subscribe("room")
        payload = json.dumps({"n": 1})
        async with bp._publishing([("room", payload)]):  # type: ignore[attr-defined]
            # Redis's copy reaches the reader before the publishing command's reply is read.
            await raw.publish(bp.prefix + "ch:room", payload)
            await asyncio.sleep(0.2)
        assert await receive(mine, 1) == [{"n": 1}]
        assert await nothing_arrives(mine)
    finally:
        await raw.aclose()
        await bp.close()


async def test_the_same_payload_from_two_processes_arrives_twice(redis_url: str) -> None:
    bp, peer = RedisBackplane(redis_url), RedisBackplane(redis_url)
    await bp.connect()
    await peer.connect()
    try:
        mine = await bp.subscribe("inbox")
        change = {"type": "inbox", "change": "status", "conversation_id": "c1"}
        await asyncio.gather(bp.publish("inbox", change), peer.publish("inbox", change))
        await bp.publish("inbox", change)
        assert await receive(mine, 3) == [change] * 3
        assert await nothing_arrives(mine)
    finally:
        await bp.close()
        await peer.close()


def test_an_echo_that_never_comes_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(echoes, "ECHO_WAIT", 0.05)
    waiting = echoes.Echoes()
    waiting.expect("room", b"{}")
    waiting.expect("room", b"{}")
    assert waiting.take("room", b"{}") and len(waiting) == 1
    assert not waiting.take("other", b"{}") and not waiting.take("room", b"[]")
    time.sleep(0.1)
    waiting.expect("hall", b"{}")  # sweeps what waited longer than ECHO_WAIT
    assert not waiting.take("room", b"{}") and len(waiting) == 1
    waiting.forget("hall")  # resubscribed: its subscribers reload
    assert len(waiting) == 0


async def test_redis_pubsub_resubscribes_after_the_connection_drops(redis_url: str) -> None:
    listener = RedisBackplane(redis_url)
    sender = RedisBackplane(redis_url)
    await listener.connect()
    await sender.connect()
    raw = aioredis.from_url(split_prefix(redis_url)[0])
    try:
        sub = await listener.subscribe("room")
        victim = await pubsub_client(redis_url, listener.client_name)
        await raw.client_kill_filter(_id=victim["id"])
        async with asyncio.timeout(10):
            # Polling the server is the point: PUBLISH counts subscribers once resubscribed.
            while await raw.publish(listener.prefix + "ch:room", '{"probe": true}') == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        await sender.publish("room", {"after": "reconnect"})
        got = []
        async with asyncio.timeout(5):
            async for message in sub:
                if message == {"after": "reconnect"}:
                    break
                assert message in ({"probe": True}, RESYNC)
                got.append(message)
        # Messages published while the connection was down are lost: the subscriber is told.
        assert got.index(RESYNC) == 0
    finally:
        await raw.aclose()
        await listener.close()
        await sender.close()


async def test_redis_prefixes_isolate_instances(redis_url: str) -> None:
    other_prefix = "t" + uuid.uuid4().hex[:12] + ":"
    other_url = split_prefix(redis_url)[0] + "?prefix=" + other_prefix
    mine, theirs = RedisBackplane(redis_url), RedisBackplane(other_url)
    await mine.connect()
    await theirs.connect()
    try:
        await mine.set("k", b"mine", ttl_seconds=30)
        await theirs.set("k", b"theirs", ttl_seconds=30)
        assert await mine.get("k") == b"mine"
        assert await theirs.get("k") == b"theirs"
        async with mine.lock("k"):
            async with theirs.lock("k", timeout=0.2):
                pass
        assert await mine.hit("r", 1, 3600) == 0
        assert await theirs.hit("r", 1, 3600) == 0
        sub = await theirs.subscribe("room")
        await mine.publish("room", {"leak": True})
        assert await nothing_arrives(sub)
        raw = aioredis.from_url(split_prefix(redis_url)[0])
        try:
            assert await raw.get(mine.prefix + "kv:k") == b"mine"
            await raw.delete(other_prefix + "kv:k", *await raw.keys(other_prefix + "*"))
        finally:
            await raw.aclose()
    finally:
        await mine.close()
        await theirs.close()


class Outage:
    """A TCP proxy in front of Redis that can be cut and restored, to simulate a network
    outage longer than redis-py's own quick retries."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pipes: set[asyncio.Task[None]] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()


async def test_redis_pubsub_survives_a_long_outage(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    outage = Outage(parts.hostname or "127.0.0.1", parts.port or 6379)
    await outage.up()
    listener = RedisBackplane(urlunsplit(parts._replace(netloc=f"127.0.0.1:{outage.port}")))
    sender = RedisBackplane(redis_url)
    await listener.connect()
    await sender.connect()
    raw = aioredis.from_url(split_prefix(redis_url)[0])
    try:
        sub = await listener.subscribe("room")
        await outage.down()
        with pytest.raises(BackendUnavailable):
            await listener.get("k")
        await asyncio.sleep(1.5)  # well past redis-py's own reconnect attempts
        await outage.up()
        async with asyncio.timeout(15):
            # Polling the server is the point: PUBLISH counts subscribers once resubscribed.
            while await raw.publish(listener.prefix + "ch:room", '{"probe": true}') == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await sender.publish("room", {"after": "outage"})
        got = []
        async with asyncio.timeout(5):
            async for message in sub:
                if message == {"after": "outage"}:
                    break
                assert message in ({"probe": True}, RESYNC)
                got.append(message)
        assert got.index(RESYNC) == 0
        assert await listener.get("k") is None  # commands work again too
    finally:
        await raw.aclose()
        await listener.close()
        await sender.close()
        await outage.down()


async def test_a_running_holder_keeps_its_lock_beyond_the_lease(
    bp: Backplane, peer: Backplane
) -> None:
    # Leases are short (fanout.LOCK_LEASE) because a live holder renews them while it runs.
    async with bp.lock("long-turn", lease=0.3):
        await asyncio.sleep(1.0)
        with pytest.raises(BackendError):
            async with peer.lock("long-turn", timeout=0.3):
                pass
    async with peer.lock("long-turn", timeout=0.5):
        pass


async def test_redis_pubsub_drops_a_silently_dead_connection_and_resyncs(redis_url: str) -> None:
    from tests.throwaway import Gate

    parts = urlsplit(redis_url)
    gate = Gate(parts.port or 6379, parts.hostname or "127.0.0.1")
    await gate.set("open")
    listener = RedisBackplane(
        urlunsplit(parts._replace(netloc=f"127.0.0.1:{gate.port}")), ping_every=0.3
    )
    sender = RedisBackplane(redis_url)
    await listener.connect()
    await sender.connect()
    try:
        sub = await listener.subscribe("room")
        gate.stall()  # the connection stays open but nothing passes any more
        await sender.publish("room", {"lost": True})
        # An unanswered PING drops it; the new connection resubscribes and says RESYNC.
        assert await receive(sub, 1, within=10) == [RESYNC]
        await sender.publish("room", {"after": "stall"})
        assert await receive(sub, 1) == [{"after": "stall"}]
    finally:
        await listener.close()
        await sender.close()
        await gate.set("down")


class _StalledClient:
    """A Redis client whose pipelines never get their reply, and report their cancellation as
    a lost connection, as redis-py can (redis/redis-py#2028, #2551)."""

    def __init__(self) -> None:
        self.sent = asyncio.Event()

    def pipeline(self, **options: object) -> _StalledClient:
        return self

    async def __aenter__(self) -> _StalledClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def eval(self, *args: object) -> None:
        pass

    async def execute(self) -> list[int]:
        self.sent.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise redis.exceptions.ConnectionError("Connection closed by server.") from None
        return []


async def test_a_stalled_renewal_holds_neither_the_turn_nor_the_shutdown(redis_url: str) -> None:
    bp = RedisBackplane(redis_url)
    await bp.connect()
    locks = bp._locks  # type: ignore[attr-defined]
    stalled = _StalledClient()
    try:
        async with asyncio.timeout(5):
            async with bp.lock("renewed", lease=0.3):
                client = locks._client()
                # Only the renewer asks for the client again; the release uses the turn's.
                locks._client = lambda: stalled
                await stalled.sent.wait()
                leaving = time.monotonic()
            # The release went out at once, beside the renewal still waiting on Redis.
            assert time.monotonic() - leaving < 0.5
            locks._client = lambda: client
            async with bp.lock("renewed", timeout=0.5):  # released, not left to its lease
                pass
    finally:
        async with asyncio.timeout(5):  # the renewer ends although its cancel was swallowed
            await bp.close()


async def test_one_round_trip_renews_every_lease_that_is_due(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    bp, peer = RedisBackplane(redis_url), RedisBackplane(redis_url)
    await bp.connect()
    await peer.connect()
    locks = bp._locks  # type: ignore[attr-defined]
    renewed: list[int] = []
    renew = locks._renew_due

    async def counted(due: list) -> None:
        renewed.append(len(due))
        await renew(due)

    locks._renew_due = counted
    entered = asyncio.Event()

    async def turn(n: int, lease: float, hold: float) -> None:
        async with bp.lock(f"turn-{n}", lease=lease):
            entered.set()
            await asyncio.sleep(hold)

    try:
        # A long lease first: the renewer sleeps for a third of it. The short ones added
        # afterwards wake it, and all ten are renewed together, beat after beat.
        slow = asyncio.create_task(turn(99, 30.0, 2.2))
        await entered.wait()
        turns = [asyncio.create_task(turn(n, 0.3, 2.0)) for n in range(10)]
        await asyncio.sleep(0.8)
        for n in range(10):
            with pytest.raises(BackendError):
                async with peer.lock(f"turn-{n}", timeout=0.05):
                    pass
        await asyncio.gather(slow, *turns)
        # About 20 beats of 0.1 s: one round trip each, not one per lock (200).
        assert renewed.count(10) >= 10 and len(renewed) <= 30, renewed
        assert "lapsed" not in caplog.text
        for n in (*range(10), 99):  # all released
            async with peer.lock(f"turn-{n}", timeout=0.5):
                pass
    finally:
        await bp.close()
        await peer.close()
