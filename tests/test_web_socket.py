"""The widget's WebSocket protocol: live events, resume after reconnect, idempotent retry."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from smartsupport.app import create_app
from smartsupport.settings import Settings

# Every frame these tests receive is checked against the documented frame models.
pytestmark = pytest.mark.usefixtures("checked_frames")


@pytest.fixture(params=["embedded", "postgres+redis"])
def client(request, tmp_path):
    options = {"data_dir": tmp_path, "secret_key": "test-secret"}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    with TestClient(create_app(Settings(**options))) as test_client:
        yield test_client


def start(client):
    return client.post("/api/v1/conversations", json={"workspace": "demo"}).json()


def ws_url(conversation):
    return f"/api/v1/conversations/{conversation['id']}/ws"


def receive_until(ws, predicate, limit=20):
    frames = []
    for _ in range(limit):
        frame = ws.receive_json()
        frames.append(frame)
        if predicate(frame):
            return frames
    raise AssertionError(f"no matching frame in {frames}")


def test_hello_replays_history_then_pushes_the_turn(client):
    conversation = start(client)
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_json({"type": "hello", "token": conversation["token"], "after": 0})
        ready = ws.receive_json()
        assert ready == {"type": "ready", "status": "bot", "last_seq": 1}
        assert ws.receive_json()["message"]["seq"] == 1
        ws.send_json({"type": "message", "text": "What does shipping cost?", "client_id": "a"})
        frames = receive_until(ws, lambda f: f.get("message", {}).get("author") == "bot")
        messages = [f["message"] for f in frames if f["type"] == "message"]
        assert [m["seq"] for m in messages] == [2, 3]
        assert messages[0]["client_id"] == "a"
        assert "shipping" in messages[1]["text"].lower()


def test_reconnect_with_last_seq_receives_exactly_what_was_missed(client):
    conversation = start(client)
    headers = {"Authorization": f"Bearer {conversation['token']}"}
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    client.post(url, json={"text": "hello", "client_id": "1"}, headers=headers)
    # The widget saw up to seq 3, went offline; meanwhile two more turns happened.
    client.post(url, json={"text": "returns?", "client_id": "2"}, headers=headers)
    client.post(url, json={"text": "payment?", "client_id": "3"}, headers=headers)
    stored = [m["seq"] for m in client.get(url, headers=headers).json()["messages"]]
    assert stored == list(range(1, len(stored) + 1)) and len(stored) >= 7
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_json({"type": "hello", "token": conversation["token"], "after": 3})
        assert ws.receive_json()["last_seq"] == stored[-1]
        missed = [ws.receive_json()["message"]["seq"] for _ in stored[3:]]
        assert missed == stored[3:]
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # nothing else was queued


def test_message_posted_over_rest_reaches_an_open_socket(client):
    conversation = start(client)
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_json({"type": "hello", "token": conversation["token"], "after": 1})
        ws.receive_json()
        client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"text": "agent please", "client_id": "z"},
            headers={"Authorization": f"Bearer {conversation['token']}"},
        )
        frames = receive_until(ws, lambda f: f["type"] == "status")
        assert frames[-1]["status"] == "waiting_for_agent"
        assert [f["message"]["seq"] for f in frames if f["type"] == "message"] == [2, 3]


def test_retried_client_id_over_the_socket_stores_once(client):
    conversation = start(client)
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_json({"type": "hello", "token": conversation["token"], "after": 1})
        ws.receive_json()
        ws.send_json({"type": "message", "text": "hi", "client_id": "dup"})
        receive_until(ws, lambda f: f.get("message", {}).get("author") == "bot")
        ws.send_json({"type": "message", "text": "hi", "client_id": "dup"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
    listed = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers={"Authorization": f"Bearer {conversation['token']}"},
    ).json()["messages"]
    assert len(listed) == 3


def test_bad_frames_get_error_frames_not_a_dropped_socket(client):
    conversation = start(client)
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_json({"type": "hello", "token": conversation["token"], "after": 1})
        ws.receive_json()
        ws.send_text("{nope")
        assert ws.receive_json()["code"] == "invalid_json"
        ws.send_json({"type": "message", "text": "x" * 5000, "client_id": "big"})
        error = ws.receive_json()
        assert error["code"] == "message_too_long" and error["client_id"] == "big"
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["code"] == "unknown_type"
        ws.send_json({"type": "message", "text": 5, "client_id": "n"})
        assert ws.receive_json() == {
            "type": "error",
            "client_id": "n",
            "code": "invalid_input",
            "message": "'text' must be a string, 'client_id' a string",
        }
        ws.send_json({"type": "message", "text": "hi", "client_id": "x" * 65})
        error = ws.receive_json()
        assert error["message"] == "'client_id' must be 1 to 64 characters"
        assert error["client_id"] == "x" * 65
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # the socket is still there


@pytest.mark.parametrize(
    ("hello", "code"),
    [
        ({"type": "hello", "token": "v1.x.y", "after": 0}, 4401),
        ({"type": "hello", "after": 0}, 4401),
        ({"type": "wave"}, 4400),
        ({"type": "hello", "token": 5, "after": 0}, 4400),
        ({"type": "hello", "token": "v1.x.y", "after": "soon"}, 4400),
    ],
)
def test_bad_hello_closes_with_a_clear_code(client, hello, code):
    conversation = start(client)
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_json(hello)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == code


def test_another_conversations_token_is_refused(client):
    mine, theirs = start(client), start(client)
    with client.websocket_connect(ws_url(theirs)) as ws:
        ws.send_json({"type": "hello", "token": mine["token"], "after": 0})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
