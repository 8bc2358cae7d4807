"""Live takeover: the bot's silence while an agent holds a conversation, agent replies on the
customer's channel, hand back, resolve and reopen, and the agent's live socket."""

from __future__ import annotations

import asyncio
import json

from smartsupport.wire import conversation_channel
from tests import staffkit
from tests.inboxkit import inbox_app, queue

ORDER_QUESTION = "Where is my order ORD-10234?"


async def test_bot_stays_silent_while_held_and_answers_again_after_hand_back(
    sqlite_url, tmp_path
) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting()
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        # Waiting is not holding: the assistant still answers meanwhile.
        assert (await visitor.say(ORDER_QUESTION))["replies"]
        await agent.post(base + "/claim")
        turn = await visitor.say(ORDER_QUESTION)
        assert (turn["replies"], turn["status"]) == ([], "with_agent")
        r = await agent.post(base + "/handback")
        assert r.json()["status"] == "bot"
        assert (await queue(agent))["mine"] == []
        turn = await visitor.say(ORDER_QUESTION)
        assert turn["status"] == "bot" and turn["replies"]  # the assistant answers again


async def test_agent_replies_reach_the_customer_channel_once(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        ana = await h.staff("ana@example.com")
        bo = await h.staff("bo@example.com")
        visitor = await h.customer_waiting()
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        r = await ana.post(base + "/messages", json={"text": "Hello"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_claimed"
        await ana.post(base + "/claim")
        r = await bo.post(base + "/messages", json={"text": "Me too"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_holder"

        subscription = await h.services.backplane.subscribe(conversation_channel(visitor.id))
        body = {"text": "Hi, I'm Ana <b>from</b> support", "client_id": "c-1"}
        first = await ana.post(base + "/messages", json=body)
        again = await ana.post(base + "/messages", json=body)
        assert first.status_code == again.status_code == 201
        assert first.json()["message"]["id"] == again.json()["message"]["id"]
        event = await asyncio.wait_for(subscription.__aiter__().__anext__(), 5)
        await subscription.close()
        assert event["type"] == "message"
        assert event["message"]["author"] == "agent"
        assert event["message"]["text"] == body["text"]  # plain text, rendered as text
        stored = [m for m in await visitor.messages() if m["author"] == "agent"]
        assert len(stored) == 1
        r = await ana.post(base + "/messages", json={"text": "x" * 4001})
        assert r.status_code == 422 and r.json()["error"]["code"] == "message_too_long"


async def test_resolve_and_reopen(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting()
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        r = await agent.post(base + "/resolve")
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_claimed"
        await agent.post(base + "/claim")
        assert (await agent.post(base + "/resolve")).json()["status"] == "resolved"
        r = await agent.post(base + "/resolve")
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_resolved"
        last = (await visitor.messages())[-1]
        assert last["author"] == "system" and "How would you rate" in last["text"]
        assert (await agent.post(base + "/reopen")).json()["status"] == "with_agent"
        assert (await queue(agent))["mine"][0]["conversation_id"] == visitor.id
        r = await agent.post(base + "/reopen")
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_resolved"
        # Reopening withdrew the rating request until the next resolution.
        r = await visitor.client.get(
            f"/api/v1/conversations/{visitor.id}/csat", headers=visitor.auth
        )
        assert r.json()["due"] is False
        detail = (await agent.get(base)).json()
        assert detail["holder"]["id"] == agent.user_id
        statuses = [m["text"] for m in detail["messages"] if m["author"] == "system"]
        assert statuses[-1] == "Ana reopened the conversation."


def test_agent_socket_pushes_the_queue_and_typing_both_ways(tmp_path, checked_frames) -> None:
    app, _ = staffkit.staff_app(tmp_path, conversation_rate_limit_per_minute=10_000)
    with staffkit.staff_client(app) as client:
        staffkit.add_staff(client, "ana@example.com", "agent")
        staffkit.login(client, "ana@example.com")
        customer = client  # one event loop: the in-process backplane belongs to it
        started = customer.post("/api/v1/conversations", json={"workspace": "demo"}).json()
        auth = {"Authorization": f"Bearer {started['token']}"}
        cid = started["id"]
        with client.websocket_connect("wss://testserver/api/v1/inbox/ws") as ws:
            assert ws.receive_json()["type"] == "ready"
            customer.post(
                f"/api/v1/conversations/{cid}/messages", json={"text": "agent please"}, headers=auth
            )
            frame = next_of(ws, "inbox")
            assert (frame["change"], frame["conversation_id"]) == ("status", cid)
            ws.send_json({"type": "watch", "conversation_id": cid})
            assert next_of(ws, "watching")["conversation_id"] == cid
            with customer.websocket_connect(
                f"wss://testserver/api/v1/conversations/{cid}/ws"
            ) as widget:
                widget.send_json({"type": "hello", "token": started["token"], "after": 99})
                assert widget.receive_json()["type"] == "ready"
                widget.send_json({"type": "typing", "on": True})
                event = next_of(ws, "conversation")["event"]
                assert event == {"type": "typing", "author": "customer", "on": True}
                r = client.post(
                    f"/api/v1/inbox/conversations/{cid}/claim", headers=staffkit.csrf(client)
                )
                assert r.status_code == 200
                ws.send_json({"type": "typing", "conversation_id": cid, "on": True})
                frame = next_of(widget, "typing", lambda f: f["author"] == "agent")
                assert frame == {"type": "typing", "author": "agent", "on": True}
            frame = next_of(ws, "conversation", lambda f: f["event"]["type"] == "message")
            assert frame["event"]["message"]["text"] == "ana joined the conversation."
        # Every frame of both sockets was one that /asyncapi.json documents.
        assert {"ready", "inbox", "watching", "conversation", "typing"} <= set(checked_frames)
        client.cookies.clear()
        with client.websocket_connect("wss://testserver/api/v1/inbox/ws") as ws:
            assert ws.receive()["code"] == 4401


def next_of(ws, kind: str, match=lambda frame: True, limit: int = 30) -> dict:
    for _ in range(limit):
        frame = json.loads(ws.receive_text())
        if frame.get("type") == kind and match(frame):
            return frame
    raise AssertionError(f"no {kind} frame")
