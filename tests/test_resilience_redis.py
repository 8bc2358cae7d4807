"""A Redis restart under open chats: every subscription comes back and no chat stalls.

Two real server processes share a throwaway Redis (started and restarted by the test; the
shared one is never touched) and the test PostgreSQL. Widgets are connected to B; A answers
the customers. While Redis is down, requests answer 503 and /readyz says why; right after it
is back, A answers every chat before B's pub/sub connection has resubscribed, so those
replies are published to nobody: B's sockets must re-sync them from the database.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets

from tests.servers import LiveServer
from tests.throwaway import ThrowawayRedis

CHATS = 20


class Widget:
    """A widget's socket: hello with ``after``, then every message frame kept."""

    def __init__(self, url: str, chat: dict[str, Any]) -> None:
        self.url = url.replace("http", "ws") + f"/api/v1/conversations/{chat['id']}/ws"
        self.chat = chat
        self.messages: dict[int, dict[str, Any]] = {}
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, after: int = 1) -> None:
        self.ws = await websockets.connect(self.url)
        await self.ws.send(
            json.dumps({"type": "hello", "token": self.chat["token"], "after": after})
        )
        assert json.loads(await asyncio.wait_for(self.ws.recv(), 15))["type"] == "ready"
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame["type"] == "message":
                self.messages[frame["message"]["seq"]] = frame["message"]

    async def answered(self, client_id: str, within: float) -> dict[str, Any]:
        """The bot's reply to the customer message ``client_id``, once this socket has it."""
        async with asyncio.timeout(within):
            while True:
                asked = [m for m in self.messages.values() if m["client_id"] == client_id]
                if asked:
                    replies = [m for m in self.messages.values() if m["reply_to"] == asked[0]["id"]]
                    if replies:
                        return replies[0]
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()


async def post(http: httpx.AsyncClient, url: str, chat: dict[str, Any], text: str, cid: str):
    return await http.post(
        f"{url}/api/v1/conversations/{chat['id']}/messages",
        json={"text": text, "client_id": cid},
        headers={"Authorization": f"Bearer {chat['token']}"},
    )


async def test_after_a_redis_restart_every_open_chat_gets_the_replies_published_meanwhile(
    postgres_url: str,
) -> None:
    with ThrowawayRedis() as redis:
        env = {
            "SMARTSUPPORT_DATABASE_URL": postgres_url,
            "SMARTSUPPORT_REDIS_URL": redis.url,
            "SMARTSUPPORT_SECRET_KEY": "shared-cluster-secret",
            "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
        }
        a, b = LiveServer(env), LiveServer(env)
        widgets: list[Widget] = []
        try:
            await asyncio.to_thread(a.start)
            await asyncio.to_thread(b.start)
            async with httpx.AsyncClient(timeout=60) as http:
                chats = []
                for _ in range(CHATS):
                    created = await http.post(
                        f"{a.url}/api/v1/conversations", json={"workspace": "demo"}
                    )
                    assert created.status_code == 201, created.text
                    chats.append(created.json())
                widgets = [Widget(b.url, chat) for chat in chats]
                await asyncio.gather(*(w.open() for w in widgets))

                await asyncio.to_thread(redis.stop)
                # Meanwhile: a clear error, and readiness names the backend.
                down = await post(http, a.url, chats[0], "hello?", "during-outage")
                assert down.status_code == 503, down.text
                assert down.json()["error"]["code"] == "unavailable"
                assert down.headers["Retry-After"]
                ready = await http.get(f"{b.url}/readyz")
                assert ready.status_code == 503
                assert ready.json()["backplane"].startswith("unavailable: Redis at")
                await asyncio.sleep(1.5)  # B's pub/sub reader backs off meanwhile

                await asyncio.to_thread(redis.start)
                answers = await asyncio.gather(
                    *(
                        post(http, a.url, chat, "How much does shipping cost?", f"back-{i}")
                        for i, chat in enumerate(chats)
                    )
                )
                assert [r.status_code for r in answers] == [201] * CHATS, answers[0].text
                # No chat stalls: every widget gets its reply, re-synced or live.
                await asyncio.gather(
                    *(w.answered(f"back-{i}", within=30) for i, w in enumerate(widgets))
                )
                # And every subscription is live again: the next replies arrive as published.
                again = await asyncio.gather(
                    *(
                        post(http, a.url, chat, "Do you ship to Canada?", f"live-{i}")
                        for i, chat in enumerate(chats)
                    )
                )
                assert [r.status_code for r in again] == [201] * CHATS
                await asyncio.gather(
                    *(w.answered(f"live-{i}", within=20) for i, w in enumerate(widgets))
                )
                for widget in widgets:  # nothing lost, nothing out of order
                    seqs = sorted(widget.messages)
                    assert seqs == list(range(2, seqs[-1] + 1))
                ready = await http.get(f"{b.url}/readyz")
                assert ready.status_code == 200, ready.text
            # B's sockets were told to re-sync (backplane RESYNC), not left waiting.
            assert "its subscribers resynchronise" in b.log_path.read_text()
        finally:
            await asyncio.gather(*(w.close() for w in widgets), return_exceptions=True)
            await asyncio.to_thread(a.__exit__, None, None, None)
            await asyncio.to_thread(b.__exit__, None, None, None)


async def test_a_resend_of_a_stored_message_is_answered_with_its_echo_on_that_socket(
    postgres_url: str,
) -> None:
    """The server's half of the widget's acknowledgement timeout. Two processes without a
    shared backplane stand for a lost publish: the message is stored through B, so the
    socket on A never hears of it; the widget re-sends it there with the same client_id and
    gets the echo and the replies, and nothing is stored twice."""
    env = {"SMARTSUPPORT_DATABASE_URL": postgres_url, "SMARTSUPPORT_SECRET_KEY": "shared"}
    a, b = LiveServer(env), LiveServer(env)
    try:
        await asyncio.to_thread(a.start)
        await asyncio.to_thread(b.start)
        async with httpx.AsyncClient(timeout=60) as http:
            chat = (
                await http.post(f"{a.url}/api/v1/conversations", json={"workspace": "demo"})
            ).json()
            widget = Widget(a.url, chat)
            await widget.open()
            stored = await post(http, b.url, chat, "Do you ship to Canada?", "c1")
            assert stored.status_code == 201
            await asyncio.sleep(1.0)
            assert widget.messages == {}  # the publish went nowhere
            await widget.ws.send(
                json.dumps({"type": "message", "text": "Do you ship to Canada?", "client_id": "c1"})
            )
            reply = await widget.answered("c1", within=20)
            assert reply["author"] == "bot"
            listed = await http.get(
                f"{a.url}/api/v1/conversations/{chat['id']}/messages",
                headers={"Authorization": f"Bearer {chat['token']}"},
            )
            customer = [m for m in listed.json()["messages"] if m["author"] == "customer"]
            assert [m["client_id"] for m in customer] == ["c1"]
            await widget.close()
    finally:
        await asyncio.to_thread(a.__exit__, None, None, None)
        await asyncio.to_thread(b.__exit__, None, None, None)
