"""Collision warnings over the agent socket: staff typing a reply or a private note is
announced to the other agents of the workspace (``agent_typing`` frames, documented in
/asyncapi.json), never to the customer unless it is the holder's reply, only for a
conversation the typist may see, and across replicas (two server processes on PostgreSQL and
Redis)."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests import staffkit
from tests.servers import LiveServer
from tests.test_inbox_takeover import next_of


def test_typing_a_note_warns_other_agents_and_not_the_customer(tmp_path, checked_frames) -> None:
    app, _ = staffkit.staff_app(tmp_path, conversation_rate_limit_per_minute=10_000)
    with staffkit.staff_client(app) as ana, staffkit.staff_client(app) as bo:
        staffkit.add_staff(ana, "ana@example.com", "agent")
        bo_id = staffkit.add_staff(ana, "bo@example.com", "agent")
        staffkit.add_staff(ana, "olga@example.com", "agent", workspaces=["elsewhere"])
        staffkit.login(ana, "ana@example.com")
        staffkit.login(bo, "bo@example.com")
        started = ana.post("/api/v1/conversations", json={"workspace": "demo"}).json()
        cid, auth = started["id"], {"Authorization": f"Bearer {started['token']}"}
        ana.post(
            f"/api/v1/conversations/{cid}/messages", json={"text": "agent please"}, headers=auth
        )
        r = ana.post(f"/api/v1/inbox/conversations/{cid}/claim", headers=staffkit.csrf(ana))
        assert r.status_code == 200
        with (
            ana.websocket_connect("wss://testserver/api/v1/inbox/ws") as ana_ws,
            bo.websocket_connect("wss://testserver/api/v1/inbox/ws") as bo_ws,
            ana.websocket_connect(f"wss://testserver/api/v1/conversations/{cid}/ws") as widget,
        ):
            assert ana_ws.receive_json()["type"] == bo_ws.receive_json()["type"] == "ready"
            widget.send_json({"type": "hello", "token": started["token"], "after": 99})
            assert widget.receive_json()["type"] == "ready"
            bo_ws.send_json({"type": "typing", "conversation_id": cid, "on": True, "where": "note"})
            frame = next_of(ana_ws, "agent_typing")
            assert frame == {
                "type": "agent_typing",
                "conversation_id": cid,
                "agent_id": bo_id,
                "agent_name": "bo",
                "on": True,
                "where": "note",
            }
            # The holder's reply typing: the customer sees it, Bo gets the collision warning.
            ana_ws.send_json({"type": "typing", "conversation_id": cid, "on": True})
            assert next_of(bo_ws, "agent_typing", lambda f: f["agent_name"] == "ana")["where"] == (
                "reply"
            )
            typing = next_of(widget, "typing")
            assert typing == {"type": "typing", "author": "agent", "on": True}  # Ana's, not Bo's
            bo_ws.send_json(
                {"type": "typing", "conversation_id": cid, "on": False, "where": "note"}
            )
            assert next_of(ana_ws, "agent_typing", lambda f: not f["on"])["agent_id"] == bo_id
            bo_ws.send_json({"type": "typing", "conversation_id": cid, "on": True, "where": "x"})
            assert next_of(bo_ws, "error")["code"] == "invalid_input"
        assert "agent_typing" in checked_frames
        # Staff of another workspace cannot announce typing in this conversation.
        olga = staffkit.staff_client(app)
        with olga:
            staffkit.login(olga, "olga@example.com")
            with olga.websocket_connect("wss://testserver/api/v1/inbox/ws") as olga_ws:
                assert olga_ws.receive_json()["type"] == "ready"
                olga_ws.send_json({"type": "typing", "conversation_id": cid, "on": True})
                assert next_of(olga_ws, "error")["code"] == "workspace_forbidden"


async def frame_of(ws: websockets.ClientConnection, kind: str) -> dict:
    for _ in range(30):
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame.get("type") == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


async def test_collision_warning_reaches_an_agent_on_another_replica(
    tmp_path, postgres_url, redis_url
) -> None:
    env = {
        "SMARTSUPPORT_DATABASE_URL": postgres_url,
        "SMARTSUPPORT_REDIS_URL": redis_url,
        "SMARTSUPPORT_SECRET_KEY": "shared-cluster-secret",
        "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
    }
    with LiveServer(env) as a, LiveServer(env) as b:
        staffkit.add_user(a, "ana@example.com", "agent", "Ana Agent")
        staffkit.add_user(a, "bo@example.com", "agent", "Bo Agent")
        async with httpx.AsyncClient(timeout=30) as visitor:
            started = (
                await visitor.post(f"{a.url}/api/v1/conversations", json={"workspace": "demo"})
            ).json()
            with httpx.Client(timeout=30) as ana, httpx.Client(timeout=30) as bo:
                # Ana on one replica, Bo on the other (the shared helper is synchronous).
                await asyncio.to_thread(staffkit.live_login, ana, a, "ana@example.com")
                await asyncio.to_thread(staffkit.live_login, bo, b, "bo@example.com")
                ana_cookie = staffkit.live_headers(ana)["Cookie"]
                bo_cookie = staffkit.live_headers(bo)["Cookie"]

            def socket(server: LiveServer, cookie: str):  # type: ignore[no-untyped-def]
                url = server.url.replace("http", "ws") + "/api/v1/inbox/ws"
                return websockets.connect(
                    url, additional_headers={"Cookie": cookie, "Origin": server.url}
                )

            async with socket(a, ana_cookie) as ana_ws, socket(b, bo_cookie) as bo_ws:
                assert (await frame_of(ana_ws, "ready"))["user"]["name"] == "Ana Agent"
                assert (await frame_of(bo_ws, "ready"))["user"]["name"] == "Bo Agent"
                await bo_ws.send(
                    json.dumps(
                        {"type": "typing", "conversation_id": started["id"], "on": True}
                        | {"where": "note"}
                    )
                )
                frame = await frame_of(ana_ws, "agent_typing")
                assert (frame["agent_name"], frame["conversation_id"], frame["on"]) == (
                    "Bo Agent",
                    started["id"],
                    True,
                )
