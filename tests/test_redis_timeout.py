"""A Redis that stops answering (SIGSTOP: the process holds its sockets open and says
nothing, like a hung server or a silent link) fails commands after
SMARTSUPPORT_REDIS_TIMEOUT_SECONDS instead of hanging turns: REST answers 503 `unavailable`,
a new widget socket is closed with 1013, and everything works again once it answers.

A throwaway redis-server (tests/throwaway.py) is stopped and continued; the shared one on
6379 is never touched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import websockets

from smartsupport.backplane import open_backplane
from smartsupport.backplane.base import RESYNC
from smartsupport.errors import BackendUnavailable
from tests.servers import LiveServer
from tests.test_resilience_postgres import frames_until, hello, post
from tests.throwaway import ThrowawayRedis

TIMEOUT = 1.0  # SMARTSUPPORT_REDIS_TIMEOUT_SECONDS in these tests


@contextmanager
def paused(redis: ThrowawayRedis) -> Iterator[None]:
    """The throwaway Redis stopped (SIGSTOP) for the block, continued after it."""
    assert redis.process is not None
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)


async def test_a_command_to_a_hung_redis_fails_within_the_timeout() -> None:
    with ThrowawayRedis() as redis:
        backplane = open_backplane(redis.url, command_timeout=TIMEOUT)
        await backplane.connect()
        try:
            subscription = await backplane.subscribe("quiet")
            # A quiet subscription outlives the command timeout: its reader has its own.
            await asyncio.sleep(3 * TIMEOUT)
            await backplane.publish("quiet", {"n": 1})
            received = aiter(subscription)
            assert await asyncio.wait_for(anext(received), 5) == {"n": 1}

            await backplane.set("k", b"v")
            with paused(redis):
                started = time.monotonic()
                with pytest.raises(BackendUnavailable, match="cannot be reached"):
                    await backplane.get("k")
                took = time.monotonic() - started
            # One try, not retried: a timed-out command may have run.
            assert TIMEOUT * 0.9 <= took < TIMEOUT * 2.5, took
            # Answering again, the next command works (the hung connection was dropped).
            assert await backplane.get("k") == b"v"
            await backplane.publish("quiet", {"n": 2})
            after = await asyncio.wait_for(anext(received), 10)
            assert after in ({"n": 2}, RESYNC), after
        finally:
            await backplane.close()


async def test_a_hung_redis_gives_503_and_1013_instead_of_hanging_turns() -> None:
    with ThrowawayRedis() as redis:
        server = LiveServer(
            {
                "SMARTSUPPORT_REDIS_URL": redis.url,
                "SMARTSUPPORT_REDIS_TIMEOUT_SECONDS": str(TIMEOUT),
            }
        )
        try:
            await asyncio.to_thread(server.start)
            async with httpx.AsyncClient(timeout=30) as http:
                created = await http.post(
                    f"{server.url}/api/v1/conversations", json={"workspace": "demo"}
                )
                assert created.status_code == 201, created.text
                chat: dict[str, Any] = created.json()
                assert (await post(http, server.url, chat, "before")).status_code == 201

                with paused(redis):
                    started = time.monotonic()
                    down = await post(http, server.url, chat, "during")
                    took = time.monotonic() - started
                    assert down.status_code == 503, down.text
                    assert down.json()["error"]["code"] == "unavailable"
                    assert down.headers["Retry-After"] == "2"
                    # Bounded by the timeout (plus the server's own work), not by the lock
                    # wait of 10 s or forever.
                    assert took < TIMEOUT + 4, took
                    late = await hello(server.url, chat)
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await frames_until(late, lambda f: False, within=TIMEOUT + 10)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

                deadline = time.monotonic() + 20
                while (answer := await post(http, server.url, chat, "during")).status_code != 201:
                    assert answer.status_code == 503, answer.text
                    assert time.monotonic() < deadline, "the server did not recover"
                    await asyncio.sleep(0.2)
        finally:
            await asyncio.to_thread(server.__exit__, None, None, None)
