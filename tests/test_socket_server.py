"""An idle widget socket keeps only what it needs (issue 18: 10,000 at <= 20 KB each).

``smartsupport serve`` runs uvicorn with ``socket_server.LeanWebSockets``: after the handshake
the upgrade headers are emptied wherever they were kept, and the receive queue and the
writable flag are a few slots instead of asyncio's deques. The widget path is served in plain
ASGI by ``web_socket.WidgetSockets``, never through Starlette's ``WebSocket``. The socket
behaviour itself is tested by test_web_socket.py, test_security_limits.py and the browser
tests, which run on the same server.
"""

from __future__ import annotations

import asyncio
import gc
import json

import httpx
import pytest
import uvicorn
import websockets
from starlette.websockets import WebSocket
from websockets.datastructures import Headers

from smartsupport.app import create_app
from smartsupport.channels import web_socket
from smartsupport.settings import Settings
from smartsupport.socket_server import Flag, Inbox, LeanWebSockets
from tests.servers import free_port


async def test_an_open_widget_socket_keeps_no_upgrade_headers_and_no_starlette_socket(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, secret_key="test-secret"))
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws=LeanWebSockets, log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(600):
            if server.started:
                break
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=30) as http:
            conversation = (
                await http.post(f"{base}/api/v1/conversations", json={"workspace": "demo"})
            ).json()
        url = base.replace("http", "ws") + f"/api/v1/conversations/{conversation['id']}/ws"
        marker = "x" * 1500
        async with websockets.connect(url, additional_headers={"X-Marker": marker}) as ws:
            await ws.send(json.dumps({"type": "hello", "token": conversation["token"], "after": 1}))
            assert json.loads(await ws.recv())["type"] == "ready"
            [protocol] = [
                c for c in server.server_state.connections if isinstance(c, LeanWebSockets)
            ]
            assert isinstance(protocol.queue, Inbox) and isinstance(protocol.writable, Flag)
            assert protocol.scope["headers"] == []
            assert len(protocol.request.headers) == 0 and len(protocol.response.headers) == 0
            gc.collect()
            kept = [o for o in gc.get_objects() if isinstance(o, Headers) and "X-Marker" in o]
            assert kept == [ws.request.headers]  # only the client's, in this process too
            assert [o for o in gc.get_objects() if isinstance(o, WebSocket)] == []
            await ws.send(json.dumps({"type": "ping"}))  # and the socket still works
            assert json.loads(await ws.recv()) == {"type": "pong"}
    finally:
        server.should_exit = True
        await serving


def test_the_middleware_serves_the_path_the_route_declares():
    declared = {route.path for route in web_socket.router.routes}
    assert declared == {web_socket.WIDGET_SOCKET}


async def test_the_inbox_hands_out_items_in_order_to_waiting_getters():
    inbox = Inbox()
    assert inbox.empty()
    first, second = asyncio.create_task(inbox.get()), asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    inbox.put_nowait("c")
    assert await first == "a" and await second == "b"
    assert not inbox.empty()
    assert await inbox.get() == "c" and inbox.empty()


async def test_a_getter_cancelled_after_its_wake_up_passes_it_on():
    inbox = Inbox()
    first, second = asyncio.create_task(inbox.get()), asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("only")  # wakes the first getter, which is cancelled before it runs
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "only"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_the_flag_starts_set_and_releases_every_waiter_when_set_again():
    flag = Flag()
    assert flag.is_set() and await flag.wait()
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
