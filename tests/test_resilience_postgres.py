"""A PostgreSQL restart and a crash (as in a failover) under a running server.

A throwaway PostgreSQL (started, stopped and restarted by the test; never the shared one)
behind a real `smartsupport serve`. While it is down: REST answers 503 `unavailable` with
Retry-After, a new widget socket is closed with 1013 (reconnect later), a message on an open
socket gets an `unavailable` error frame, /readyz says why. Once it is back the same process
answers again, without a restart: asyncpg's pool replaces the connections that died.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import websockets

from tests.servers import LiveServer
from tests.throwaway import ThrowawayPostgres


async def post(http: httpx.AsyncClient, url: str, chat: dict[str, Any], cid: str):
    return await http.post(
        f"{url}/api/v1/conversations/{chat['id']}/messages",
        json={"text": "How much does shipping cost?", "client_id": cid},
        headers={"Authorization": f"Bearer {chat['token']}"},
    )


async def hello(url: str, chat: dict[str, Any]) -> Any:
    ws = await websockets.connect(
        url.replace("http", "ws") + f"/api/v1/conversations/{chat['id']}/ws"
    )
    await ws.send(json.dumps({"type": "hello", "token": chat["token"], "after": 0}))
    return ws


async def frames_until(ws: Any, predicate, within: float = 15) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame


async def recovers(http: httpx.AsyncClient, url: str, chat: dict[str, Any], cid: str) -> float:
    """Seconds until a message is answered again (the same client_id each try)."""
    started = time.monotonic()
    while True:
        answer = await post(http, url, chat, cid)
        if answer.status_code == 201:
            return time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert time.monotonic() - started < 30, "the server did not recover"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("how", ["fast", "immediate"])
async def test_a_postgres_restart_is_survived_with_clear_errors_meanwhile(how: str) -> None:
    with ThrowawayPostgres() as pg:
        server = LiveServer({"SMARTSUPPORT_DATABASE_URL": pg.url})
        try:
            await asyncio.to_thread(server.start)
            async with httpx.AsyncClient(timeout=30) as http:
                created = await http.post(
                    f"{server.url}/api/v1/conversations", json={"workspace": "demo"}
                )
                assert created.status_code == 201, created.text
                chat = created.json()
                assert (await post(http, server.url, chat, "before")).status_code == 201
                widget = await hello(server.url, chat)
                await frames_until(widget, lambda f: f["type"] == "ready")

                # "fast" terminates the sessions (57P01), "immediate" is a crash.
                await asyncio.to_thread(pg.stop, how)
                down = await post(http, server.url, chat, "during")
                assert down.status_code == 503, down.text
                assert down.json()["error"] == {
                    "code": "unavailable",
                    "message": "a backend is unavailable; retry shortly",
                }
                assert down.headers["Retry-After"] == "2"
                ready = await http.get(f"{server.url}/readyz")
                assert ready.status_code == 503
                assert ready.json()["database"].startswith("unavailable:")
                # A socket already open says so per message; a new one is told to come back.
                await widget.send(
                    json.dumps({"type": "message", "text": "hi", "client_id": "ws-1"})
                )
                error = await frames_until(widget, lambda f: f["type"] == "error")
                assert error == {
                    "type": "error",
                    "code": "unavailable",
                    "message": "the assistant is unavailable; retry shortly",
                    "client_id": "ws-1",
                }
                late = await hello(server.url, chat)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await frames_until(late, lambda f: False)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

                await asyncio.to_thread(pg.start)
                took = await recovers(http, server.url, chat, "during")
                assert took < 15
                assert (await http.get(f"{server.url}/readyz")).status_code == 200
                # The open socket works again: the widget's resend (same client_id) is
                # answered, and stored once.
                await widget.send(
                    json.dumps({"type": "message", "text": "hi", "client_id": "ws-1"})
                )
                echo = await frames_until(
                    widget, lambda f: f["type"] == "message" and f["message"]["client_id"] == "ws-1"
                )
                listed = await http.get(
                    f"{server.url}/api/v1/conversations/{chat['id']}/messages",
                    headers={"Authorization": f"Bearer {chat['token']}"},
                )
                sent = [
                    m["client_id"] for m in listed.json()["messages"] if m["author"] == "customer"
                ]
                assert sent == ["before", "during", "ws-1"]
                assert echo["message"]["seq"] > 2
                await widget.close()
        finally:
            await asyncio.to_thread(server.__exit__, None, None, None)
