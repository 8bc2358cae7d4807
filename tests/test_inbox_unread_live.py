"""Live unread counts (issue 16, docs/inbox.md "Unread counts", inbox/unread.py), on the
embedded defaults and on PostgreSQL + Redis: a customer's message in a waiting conversation
reaches every agent socket of the workspace as an ``unread`` frame, whoever stored it (the
conversation path, a channel's file message), without a query per socket; a read
mark reaches every open inbox of the agent who read, and no one else's; across replicas
too. The lists give each card the ``last_seq`` its count stops at."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, ConversationStatus, Message, utcnow
from smartsupport.fanout import publish_message
from smartsupport.ids import new_id
from smartsupport.inbox import socket as inbox_socket
from smartsupport.inbox.api import queue_for
from smartsupport.inbox.store import InboxStore
from smartsupport.staff.models import StaffUser
from smartsupport.wire import inbox_channel
from tests import staffkit
from tests.inboxkit import services_on_each_engine  # noqa: F401 - the services fixture
from tests.servers import LiveServer
from tests.test_inbox_takeover import next_of
from tests.test_inbox_unread import Counted, say, waiting

HUMAN = "I want to talk to a person please"
ANA = StaffUser("agent-ana", "ana@example.com", "Ana", "agent", ["acme"])


# -- the events, from every writer -------------------------------------------------------------
async def published_on_inbox(services, workspace: str, action) -> list[dict[str, Any]]:
    """What ``action`` publishes on the workspace's inbox channel."""
    subscription = await services.backplane.subscribe(inbox_channel(workspace))
    events: list[dict[str, Any]] = []
    try:
        await action()
        await services.backplane.publish(inbox_channel(workspace), {"type": "end"})
        async for event in subscription:
            if event["type"] == "end":
                return events
            events.append(event)
    finally:
        await subscription.close()
    return events


async def test_a_channels_customer_message_counts_only_while_waiting(services) -> None:
    """A writer without the conversation at hand (a channel's file message) gets the unread
    event all the same; agents' and bot messages, and conversations not in the queue, none."""
    queued = await waiting(services, HUMAN)
    talking, _ = await start_conversation(services, "acme")

    async def write(conversation_id: str, author: Author) -> Message:
        message = Message(new_id(), conversation_id, 0, author, "photo.jpg")
        await services.store.record_turn(conversation_id, [message])
        await publish_message(services, message)
        return message

    stored: list[Message] = []

    async def messages() -> None:
        stored.append(await write(queued.id, Author.CUSTOMER))
        await write(queued.id, Author.BOT)
        await write(talking.id, Author.CUSTOMER)  # the assistant has it: no queue card

    events = await published_on_inbox(services, "acme", messages)
    assert events == [{"type": "unread", "conversation_id": queued.id, "seq": stored[0].seq}]


async def test_the_lists_say_where_each_count_stops(services) -> None:
    queued = await waiting(services, HUMAN, "hello?")
    [entry] = (await queue_for(services, ANA))["queue"]
    assert (entry["unread"], entry["last_seq"]) == (2, queued.last_seq)
    await services.store.set_status(queued.id, ConversationStatus.WITH_AGENT)
    await InboxStore(services.store).update(
        queued.id, "acme", agent_id=ANA.id, assigned_at=utcnow()
    )
    last = await say(services, queued.id, "still there?")
    [mine] = (await queue_for(services, ANA))["mine"]
    assert (mine["unread"], mine["last_seq"]) == (3, last)


# -- the sockets, on each backend -------------------------------------------------------------
@pytest.fixture(params=["embedded", "postgresql+redis"])
def app_settings(request, postgres_url, redis_url) -> dict[str, Any]:
    if request.param == "embedded":
        return {}
    return {"database_url": postgres_url, "redis_url": redis_url}


class Session:
    """One staff member's cookies in the shared test client (one client, one event loop: the
    in-process backplane belongs to it)."""

    def __init__(self, client, email: str) -> None:
        client.cookies.clear()
        assert staffkit.login(client, email).status_code == 200
        self.client, self.cookies = client, list(client.cookies.jar)

    def signed_in(self) -> None:
        self.client.cookies.clear()
        for cookie in self.cookies:
            self.client.cookies.jar.set_cookie(cookie)

    def socket(self):
        self.signed_in()
        return self.client.websocket_connect("wss://testserver/api/v1/inbox/ws")

    def read(self, conversation_id: str, seq: int) -> int:
        self.signed_in()
        r = self.client.post(
            f"/api/v1/inbox/conversations/{conversation_id}/read",
            json={"seq": seq},
            headers=staffkit.csrf(self.client),
        )
        assert r.status_code == 200, r.text
        return int(r.json()["seq"])


def until(ws, kind: str, match=lambda frame: True) -> list[dict[str, Any]]:
    """The frames up to and including the first ``kind`` frame that matches."""
    frames = []
    for _ in range(40):
        frames.append(json.loads(ws.receive_text()))
        if frames[-1]["type"] == kind and match(frames[-1]):
            return frames
    raise AssertionError(f"no {kind} frame in {frames}")


def test_customers_messages_and_read_marks_reach_the_right_inboxes(
    tmp_path, app_settings, checked_frames, monkeypatch
) -> None:
    monkeypatch.setattr(inbox_socket, "TICK_SECONDS", 3600)  # no background refresh meanwhile
    app, _ = staffkit.staff_app(
        tmp_path, conversation_rate_limit_per_minute=10_000, jobs=False, **app_settings
    )
    with staffkit.staff_client(app) as client:
        ana_id = staffkit.add_staff(client, "ana@example.com", "agent")
        staffkit.add_staff(client, "bo@example.com", "agent")
        staffkit.add_staff(client, "olga@example.com", "agent", workspaces=["elsewhere"])
        ana, bo = Session(client, "ana@example.com"), Session(client, "bo@example.com")
        olga = Session(client, "olga@example.com")
        client.cookies.clear()
        started = client.post("/api/v1/conversations", json={"workspace": "demo"}).json()
        cid, auth = started["id"], {"Authorization": f"Bearer {started['token']}"}

        def customer(text: str) -> int:
            r = client.post(
                f"/api/v1/conversations/{cid}/messages", json={"text": text}, headers=auth
            )
            assert r.status_code == 201, r.text
            return int(r.json()["message"]["seq"])

        with (
            ana.socket() as ana_tab,
            ana.socket() as ana_other_tab,
            bo.socket() as bo_ws,
            olga.socket() as olga_ws,
        ):
            sockets = (ana_tab, ana_other_tab, bo_ws)
            for ws in (*sockets, olga_ws):
                assert ws.receive_json()["type"] == "ready"
            asked = customer(HUMAN)  # the turn that hands over: counted, and the lists refresh
            for ws in sockets:
                frames = until(ws, "inbox", lambda f: f["change"] == "status")
                assert {"type": "unread", "conversation_id": cid, "seq": asked} in frames
            hello = customer("Hello? Anyone there?")
            for ws in sockets:  # every inbox of the workspace, from the event alone
                frame = next_of(ws, "unread")
                assert frame == {"type": "unread", "conversation_id": cid, "seq": hello}

            # Ana opens it in one tab: both her tabs learn the mark, Bo does not.
            assert ana.read(cid, hello) == hello
            for ws in (ana_tab, ana_other_tab):
                assert next_of(ws, "read") == {
                    "type": "read",
                    "conversation_id": cid,
                    "agent_id": ana_id,
                    "seq": hello,
                }
            again = customer("I'm still waiting")
            frames = until(bo_ws, "unread", lambda f: f["seq"] == again)
            assert [f for f in frames if f["type"] == "read"] == []  # unread is per reader
            for ws in (ana_tab, ana_other_tab):
                assert next_of(ws, "unread")["seq"] == again

            # Forwarding costs no query, however many inboxes are open.
            services = app.state.services
            counted = Counted(monkeypatch, services.store)
            frame = {"type": "unread", "conversation_id": cid, "seq": again + 1}
            client.portal.call(services.backplane.publish, inbox_channel("demo"), frame)
            for ws in sockets:
                assert next_of(ws, "unread") == frame
            assert counted.count == 0

            # Another workspace's inbox hears nothing of it.
            olga_ws.send_json({"type": "ping"})
            assert [f["type"] for f in until(olga_ws, "pong")] == ["pong"]
        assert {"unread", "read"} <= set(checked_frames)  # documented in /asyncapi.json


# -- across replicas ---------------------------------------------------------------------------
async def frames_until(ws, kind: str, match=lambda frame: True) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    for _ in range(40):
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
        if frames[-1].get("type") == kind and match(frames[-1]):
            return frames
    raise AssertionError(f"no {kind} frame in {frames}")


async def test_counts_follow_across_replicas(tmp_path, postgres_url, redis_url) -> None:
    """The customer writes through one server, the agents' inboxes are on the other; Ana
    reads through the first, and her inbox on the second learns it (Bo's does not)."""
    env = {
        "SMARTSUPPORT_DATABASE_URL": postgres_url,
        "SMARTSUPPORT_REDIS_URL": redis_url,
        "SMARTSUPPORT_SECRET_KEY": "shared-cluster-secret",
        "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "10000",
    }
    with LiveServer(env) as a, LiveServer(env) as b:
        staffkit.add_user(a, "ana@example.com", "agent", "Ana Agent")
        staffkit.add_user(a, "bo@example.com", "agent", "Bo Agent")
        with httpx.Client(timeout=30) as ana, httpx.Client(timeout=30) as bo:
            await asyncio.to_thread(staffkit.live_login, ana, a, "ana@example.com")
            await asyncio.to_thread(staffkit.live_login, bo, a, "bo@example.com")
            async with httpx.AsyncClient(timeout=30, base_url=a.url) as visitor:
                started = await visitor.post("/api/v1/conversations", json={"workspace": "demo"})
                cid, token = started.json()["id"], started.json()["token"]
                auth = {"Authorization": f"Bearer {token}"}

                async def customer(text: str) -> int:
                    path = f"/api/v1/conversations/{cid}/messages"
                    r = await visitor.post(path, json={"text": text}, headers=auth)
                    assert r.status_code == 201, r.text
                    return int(r.json()["message"]["seq"])

                await customer(HUMAN)

                def socket(http: httpx.Client):  # type: ignore[no-untyped-def]
                    return websockets.connect(
                        b.url.replace("http", "ws") + "/api/v1/inbox/ws",
                        additional_headers={
                            "Cookie": staffkit.live_headers(http)["Cookie"],
                            "Origin": b.url,
                        },
                    )

                async with socket(ana) as ana_ws, socket(bo) as bo_ws:
                    for ws in (ana_ws, bo_ws):
                        await frames_until(ws, "ready")
                    hello = await customer("Hello?")
                    for ws in (ana_ws, bo_ws):
                        frame = (await frames_until(ws, "unread"))[-1]
                        assert (frame["conversation_id"], frame["seq"]) == (cid, hello)
                    r = await asyncio.to_thread(
                        ana.post,
                        f"{a.url}/api/v1/inbox/conversations/{cid}/read",
                        json={"seq": hello},
                        headers=staffkit.live_headers(ana),
                    )
                    assert r.status_code == 200, r.text
                    read = (await frames_until(ana_ws, "read"))[-1]
                    assert (read["conversation_id"], read["seq"]) == (cid, hello)
                    later = await customer("Still there?")
                    frames = await frames_until(bo_ws, "unread", lambda f: f["seq"] == later)
                    assert [f for f in frames if f["type"] == "read"] == []
