"""A process that dies mid-turn (kill -9) and one that is stopped (SIGTERM) mid-turn.

Real `smartsupport serve` subprocesses. The turn is held open by the answer chain's LLM step:
the model is a local server speaking OpenAI's published chat-completions format
(tests/llmkit.py) that takes its time, so the test knows a turn is running.

- kill -9: the conversation's lock lease is short and was being renewed; once renewals stop
  another process takes the conversation within a lease (fanout.LOCK_LEASE), instead of
  answering "unavailable".
- SIGTERM: sockets are told at once to reconnect (1012, which the widget reconnects on), no
  new connection is taken, the running turn finishes and is stored, then the process exits.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import websockets

from smartsupport.fanout import LOCK_LEASE
from tests.llmkit import FakeLLMServer, Scripted, openai_stream
from tests.servers import LiveServer
from tests.throwaway import ThrowawayRedis

QUESTION = "How much does express shipping cost?"  # answered by the LLM step
ANSWER = "Express shipping costs $12 and takes 1-2 business days."


def llm_env(fake: FakeLLMServer) -> dict[str, str]:
    provider = {"name": "slow", "base_url": fake.url + "/v1", "model": "m", "max_retries": 0}
    return {
        "SMARTSUPPORT_LLM_PROVIDERS": json.dumps([{**provider, "timeout_seconds": 60}]),
        "SMARTSUPPORT_ANSWER_CHAIN": '["llm:slow", "extractive", "handoff", "offline"]',
    }


async def post(http: httpx.AsyncClient, url: str, chat: dict[str, Any], text: str, cid: str):
    return await http.post(
        f"{url}/api/v1/conversations/{chat['id']}/messages",
        json={"text": text, "client_id": cid},
        headers={"Authorization": f"Bearer {chat['token']}"},
    )


async def messages(http: httpx.AsyncClient, url: str, chat: dict[str, Any]) -> list[dict]:
    listed = await http.get(
        f"{url}/api/v1/conversations/{chat['id']}/messages",
        headers={"Authorization": f"Bearer {chat['token']}"},
    )
    assert listed.status_code == 200, listed.text
    return listed.json()["messages"]


async def asked(fake: FakeLLMServer, count: int = 1, within: float = 60) -> None:
    """Wait until the model has been asked: the turn is running and holds the lock."""
    async with asyncio.timeout(within):
        while len(fake.requests) < count:  # noqa: ASYNC110 - the fake records, it does not signal
            await asyncio.sleep(0.05)


async def test_a_process_killed_mid_turn_blocks_its_conversation_for_at_most_a_lease(
    postgres_url: str,
) -> None:
    async with FakeLLMServer() as fake:
        fake.push(Scripted(delay=120.0))  # never answers before the process is killed
        with ThrowawayRedis() as redis:
            env = {
                "SMARTSUPPORT_DATABASE_URL": postgres_url,
                "SMARTSUPPORT_REDIS_URL": redis.url,
                "SMARTSUPPORT_SECRET_KEY": "shared-cluster-secret",
            }
            victim, survivor = LiveServer({**env, **llm_env(fake)}), LiveServer(env)
            raw = aioredis.from_url(redis.url)
            try:
                await asyncio.to_thread(victim.start)
                await asyncio.to_thread(survivor.start)
                async with httpx.AsyncClient(timeout=60) as http:
                    created = await http.post(
                        f"{survivor.url}/api/v1/conversations", json={"workspace": "demo"}
                    )
                    chat = created.json()
                    # How long a turn takes on the survivor on this machine, without waiting.
                    other = (
                        await http.post(
                            f"{survivor.url}/api/v1/conversations", json={"workspace": "demo"}
                        )
                    ).json()
                    await post(http, survivor.url, other, "Do you ship to Canada?", "warm")
                    started = time.monotonic()
                    await post(http, survivor.url, other, "Do you ship to Canada?", "timed")
                    turn = time.monotonic() - started
                    stuck = asyncio.create_task(post(http, victim.url, chat, QUESTION, "on-victim"))
                    await asked(fake)
                    lock = f"smartsupport:lock:lock:{chat['id']}"
                    await asyncio.sleep(LOCK_LEASE)  # longer than the lease: it was renewed
                    remaining = await raw.pttl(lock)
                    assert 0 < remaining <= LOCK_LEASE * 1000

                    victim.process.kill()  # type: ignore[union-attr]  # SIGKILL: no cleanup
                    victim.process.wait()  # type: ignore[union-attr]
                    victim.process = None
                    killed = time.monotonic()
                    answer = await post(http, survivor.url, chat, "Do you ship to Canada?", "next")
                    waited = time.monotonic() - killed
                    assert answer.status_code == 201, answer.text
                    assert waited < LOCK_LEASE + turn + 1.0, (waited, turn)
                    with pytest.raises(httpx.HTTPError):
                        await stuck
                    # The killed turn stored nothing (one transaction, never committed); its
                    # client got no answer and sends it again, with the same client_id.
                    again = await post(http, survivor.url, chat, QUESTION, "on-victim")
                    assert again.status_code == 201, again.text
                    listed = await messages(http, survivor.url, chat)
                    assert [m["seq"] for m in listed] == list(range(1, len(listed) + 1))
                    customer = [m["client_id"] for m in listed if m["author"] == "customer"]
                    assert customer == ["next", "on-victim"]
                    assert listed[-1]["author"] == "bot"
                    print(f"blocked for {waited:.2f} s after kill -9 (a turn takes {turn:.2f} s)")
            finally:
                await raw.aclose()
                await asyncio.to_thread(victim.__exit__, None, None, None)
                await asyncio.to_thread(survivor.__exit__, None, None, None)


async def test_sigterm_drains_sockets_reconnect_and_the_running_turn_finishes() -> None:
    async with FakeLLMServer() as fake:
        stream = openai_stream([ANSWER])
        stream.delay = 3.0  # the turn is still running when SIGTERM comes
        fake.push(stream)
        server = LiveServer(llm_env(fake))
        try:
            await asyncio.to_thread(server.start)
            async with httpx.AsyncClient(timeout=30) as http:
                chat = (
                    await http.post(
                        f"{server.url}/api/v1/conversations", json={"workspace": "demo"}
                    )
                ).json()
                ws_url = server.url.replace("http", "ws") + f"/api/v1/conversations/{chat['id']}/ws"
                widget = await websockets.connect(ws_url)
                await widget.send(json.dumps({"type": "hello", "token": chat["token"], "after": 1}))
                assert json.loads(await widget.recv())["type"] == "ready"
                await widget.send(
                    json.dumps({"type": "message", "text": QUESTION, "client_id": "q"})
                )
                await asked(fake)

                process = server.process
                assert process is not None
                process.send_signal(signal.SIGTERM)
                stopping = time.monotonic()
                # The widget is told at once to reconnect (elsewhere): close code 1012.
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    async with asyncio.timeout(5):
                        while True:
                            await widget.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
                assert time.monotonic() - stopping < 3.0
                # No new connection is taken while the turn finishes.
                with pytest.raises(httpx.ConnectError):
                    await http.get(f"{server.url}/healthz")
                code = await asyncio.to_thread(process.wait, 30)
                drained = time.monotonic() - stopping
                server.process = None
                # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
                assert code in (0, -signal.SIGTERM), server.log_tail()
                log = server.log_path.read_text()
                assert "Application shutdown complete" in log and "ERROR" not in log, log
                assert 1.5 < drained < 20, drained  # waited for the turn, not cut off

                await asyncio.to_thread(server.start)  # same data directory
                listed = await messages(http, server.url, chat)
                customer = next(m for m in listed if m["client_id"] == "q")
                replies = [m for m in listed if m["reply_to"] == customer["id"]]
                assert [m["author"] for m in replies] == ["bot"]
                assert "$12" in replies[0]["text"]
                assert len(fake.requests) == 1
        finally:
            await asyncio.to_thread(server.__exit__, None, None, None)
