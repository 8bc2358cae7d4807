"""Two real server processes on PostgreSQL + Redis serve the same conversations."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests.servers import LiveServer


async def test_message_posted_through_a_reaches_a_widget_on_b(tmp_path, postgres_url, redis_url):
    env = {
        "SMARTSUPPORT_DATABASE_URL": postgres_url,
        "SMARTSUPPORT_REDIS_URL": redis_url,
        "SMARTSUPPORT_SECRET_KEY": "shared-cluster-secret",
    }
    with LiveServer(env) as a, LiveServer(env) as b:
        async with httpx.AsyncClient(timeout=30) as http:
            conversation = (
                await http.post(f"{a.url}/api/v1/conversations", json={"workspace": "demo"})
            ).json()
            headers = {"Authorization": f"Bearer {conversation['token']}"}
            ws_url = b.url.replace("http", "ws") + f"/api/v1/conversations/{conversation['id']}/ws"
            async with websockets.connect(ws_url) as ws:
                await ws.send(
                    json.dumps({"type": "hello", "token": conversation["token"], "after": 1})
                )
                assert json.loads(await ws.recv())["type"] == "ready"
                posted = await http.post(
                    f"{a.url}/api/v1/conversations/{conversation['id']}/messages",
                    json={"text": "Where is ORD-10234?", "client_id": "from-a"},
                    headers=headers,
                )
                assert posted.status_code == 201
                frames = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
                assert [f["message"]["seq"] for f in frames] == [2, 3]
                assert frames[0]["message"]["client_id"] == "from-a"
                assert frames[1]["message"]["author"] == "bot"
                assert "email" in frames[1]["message"]["text"]  # the order flow checks identity

            # Both processes write to the same conversation at once: the per-conversation
            # lock in Redis keeps turns whole and sequence numbers dense.
            async def post(server: LiveServer, i: int):
                return await http.post(
                    f"{server.url}/api/v1/conversations/{conversation['id']}/messages",
                    json={"text": f"shipping question {i}", "client_id": f"c{i}"},
                    headers=headers,
                )

            results = await asyncio.gather(*(post(a if i % 2 else b, i) for i in range(10)))
            assert all(r.status_code == 201 for r in results)
            listed = (
                await http.get(
                    f"{b.url}/api/v1/conversations/{conversation['id']}/messages", headers=headers
                )
            ).json()["messages"]
            assert [m["seq"] for m in listed] == list(range(1, len(listed) + 1))
            sent = [m["client_id"] for m in listed if m["author"] == "customer"]
            assert sorted(sent[1:]) == sorted(f"c{i}" for i in range(10))
            # Turns never interleave: each customer message is followed by its own replies.
            current = None
            for message in listed[1:]:
                if message["author"] == "customer":
                    current = message["id"]
                else:
                    assert message["reply_to"] == current
