"""Input limits at the edge (issue 14, items 1 and 8): each probe finding about bodies, bad
values and WebSocket edges, as a regression test, on SQLite and on PostgreSQL + Redis.

The probe found: 100 MiB bodies read by an unauthenticated client, a 50 MB customer metadata
stored, NUL characters, integers above 2^31 and ``1e999`` reported as 503 outages on
PostgreSQL and ``after`` above 2^63 as 500 on SQLite, a binary WebSocket frame dropping the
socket without a close code, a connect during a PostgreSQL outage crashing the error
handler, and no cap on sockets or typing frames.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from smartsupport.app import create_app
from smartsupport.channels import web_socket
from smartsupport.errors import BackendError
from smartsupport.limits import MAX_SEQ, RequestLimits
from smartsupport.settings import Settings


@pytest.fixture(params=["sqlite", "postgres+redis"])
def client(request, tmp_path):
    options: dict[str, Any] = {"data_dir": tmp_path, "secret_key": "test-secret"}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    with TestClient(create_app(Settings(**options))) as test_client:
        yield test_client


def start(client: TestClient, **customer: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"workspace": "demo"}
    if customer:
        body["customer"] = customer
    response = client.post("/api/v1/conversations", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def auth(conversation: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {conversation['token']}"}


def refused(response: Any, status: int = 422) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] in ("invalid_input", "too_large")
    return str(error["message"])


# -- bodies ---------------------------------------------------------------------------------


async def test_an_oversized_body_gets_413_before_a_byte_of_it_is_read():
    """Probe: four unauthenticated 100 MiB bodies took the server from 174 to 780 MiB."""
    reached: list[str] = []

    async def app(scope, receive, send):  # pragma: no cover - must never run
        reached.append(scope["path"])

    async def receive():
        raise AssertionError("the body was read")

    sent: list[dict[str, Any]] = []

    async def send(message):
        sent.append(message)

    limits = RequestLimits(app, max_body_bytes=1024 * 1024, upload_body_bytes=16 * 1024 * 1024)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/conversations",
        "query_string": b"",
        "headers": [(b"content-length", str(100 * 1024 * 1024).encode())],
    }
    await limits(scope, receive, send)
    assert sent[0]["status"] == 413 and not reached
    assert json.loads(sent[1]["body"])["error"]["code"] == "too_large"


def test_a_streamed_body_is_cut_off_at_the_limit(client):
    def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB in all, no Content-Length

    response = client.post(
        "/api/v1/conversations", content=chunks(), headers={"Content-Type": "text/plain"}
    )
    refused(response, 413)


def test_staff_and_admin_routes_are_limited_before_authentication(client):
    big = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    refused(
        client.post("/inbox/login", content=big, headers={"Content-Type": "application/json"}), 413
    )
    # Knowledge articles get the larger upload limit: 2 MiB passes the size check and
    # reaches authentication.
    article = client.post(
        "/api/v1/admin/workspaces/demo/articles",
        content=b'{"title": "t", "body": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert article.status_code == 401


def test_large_or_deep_customer_metadata_is_refused(client):
    """Probe: a 50 MB customer.metadata was stored (201)."""
    blob = {"notes": "x" * 20_000}
    message = refused(
        client.post(
            "/api/v1/conversations", json={"workspace": "demo", "customer": {"metadata": blob}}
        )
    )
    assert "metadata" in message
    deep: dict[str, Any] = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    refused(
        client.post(
            "/api/v1/conversations", json={"workspace": "demo", "customer": {"metadata": deep}}
        )
    )
    assert start(client, metadata={"plan": "pro", "seats": 3})["id"]


# -- values no backend can store: the same 422 on both ---------------------------------------


@pytest.mark.parametrize(
    "customer",
    [{"name": "Ma\x00ria"}, {"metadata": {"note": "a\x00b"}}, {"metadata": {"k\x00": 1}}],
    ids=["name", "metadata value", "metadata key"],
)
def test_nul_in_customer_fields_is_a_clear_422(client, customer):
    """Probe: NUL in name or metadata was a 503 'backend unavailable' on PostgreSQL."""
    message = refused(
        client.post("/api/v1/conversations", json={"workspace": "demo", "customer": customer})
    )
    assert "NUL" in message


@pytest.mark.parametrize("field", ["text", "client_id"])
def test_nul_in_a_message_is_a_clear_422(client, field):
    conversation = start(client)
    body = {"text": "hello", "client_id": "c-1", field: "bad\x00value"}
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    assert "NUL" in refused(client.post(url, json=body, headers=auth(conversation)))


def test_lone_surrogates_are_refused(client):
    conversation = start(client)
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    raw = b'{"text": "half a pair \\ud800"}'
    response = client.post(
        url, content=raw, headers={**auth(conversation), "Content-Type": "application/json"}
    )
    assert "surrogate" in refused(response)


@pytest.mark.parametrize(
    "number", ["1e999", "-1e999", "NaN", str(2**63), str(-(2**63) - 1)], ids=str
)
def test_numbers_out_of_range_are_a_clear_422(client, number):
    """Probe: an integer above 2^31 or 1e999 was a 503 on PostgreSQL."""
    raw = '{"workspace": "demo", "customer": {"metadata": {"n": ' + number + "}}}"
    response = client.post(
        "/api/v1/conversations", content=raw, headers={"Content-Type": "application/json"}
    )
    refused(response)


@pytest.mark.parametrize("after", [MAX_SEQ + 1, 2**31, 2**63 + 5, 10**30])
def test_after_above_the_storable_range_is_422_not_500(client, after):
    """Probe: on SQLite after/offset above 2^63 was a 500; on PostgreSQL above 2^31 a 503."""
    conversation = start(client)
    response = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages",
        params={"after": after},
        headers=auth(conversation),
    )
    refused(response)
    ok = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages",
        params={"after": MAX_SEQ},
        headers=auth(conversation),
    )
    assert ok.status_code == 200 and ok.json()["messages"] == []


def test_nul_in_the_url_is_refused(client):
    response = client.get("/api/v1/conversations/abc%00def")
    refused(response)


# -- WebSocket edges ---------------------------------------------------------------------------


def ws_url(conversation: dict[str, Any]) -> str:
    return f"/api/v1/conversations/{conversation['id']}/ws"


def hello(conversation: dict[str, Any]) -> dict[str, Any]:
    return {"type": "hello", "token": conversation["token"], "after": 0}


def close_code(ws: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        for _ in range(50):
            ws.receive_text()
    return int(closed.value.code)


def test_a_binary_frame_closes_the_socket_with_1003(client):
    """Probe: a binary frame raised KeyError and dropped the socket without a close code."""
    conversation = start(client)
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_bytes(b"\x00\x01binary")
        assert close_code(ws) == 1003
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_json(hello(conversation))
        assert ws.receive_json()["type"] == "ready"
        ws.send_bytes(b"\xff\xfe")
        assert close_code(ws) == 1003


def test_garbage_text_frames_get_an_error_frame_and_the_socket_stays_usable(client):
    conversation = start(client)
    with client.websocket_connect(ws_url(conversation)) as ws:
        ws.send_json(hello(conversation))
        frames = [ws.receive_json()]
        while frames[-1]["type"] != "message":
            frames.append(ws.receive_json())
        ws.send_text("}{ not json")
        assert ws.receive_json()["code"] == "invalid_json"
        ws.send_json({"type": "message", "text": "nul\x00here", "client_id": "n-1"})
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == "invalid_input"
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"


def test_sockets_per_conversation_are_capped(tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="test-secret", ws_sockets_per_conversation=2)
    with TestClient(create_app(settings)) as client:
        conversation = start(client)
        with client.websocket_connect(ws_url(conversation)) as one:
            one.send_json(hello(conversation))
            assert one.receive_json()["type"] == "ready"
            with client.websocket_connect(ws_url(conversation)) as two:
                two.send_json(hello(conversation))
                assert two.receive_json()["type"] == "ready"
                with client.websocket_connect(ws_url(conversation)) as three:
                    three.send_json(hello(conversation))
                    assert close_code(three) == 1008
        # Closed sockets free their places.
        with client.websocket_connect(ws_url(conversation)) as again:
            again.send_json(hello(conversation))
            assert again.receive_json()["type"] == "ready"


def test_typing_frames_are_throttled(tmp_path, monkeypatch):
    published: list[dict[str, Any]] = []
    real = web_socket.publish

    async def recording(services, conversation_id, event):
        if event.get("type") == "typing":
            published.append(event)
        await real(services, conversation_id, event)

    monkeypatch.setattr(web_socket, "publish", recording)
    settings = Settings(data_dir=tmp_path, secret_key="test-secret", ws_typing_interval_seconds=30)
    with TestClient(create_app(settings)) as client:
        conversation = start(client)
        with client.websocket_connect(ws_url(conversation)) as ws:
            ws.send_json(hello(conversation))
            for _ in range(50):
                ws.send_json({"type": "typing", "on": True})
            ws.send_json({"type": "typing", "on": False})
            ws.send_json({"type": "ping"})
            while ws.receive_json()["type"] != "pong":
                pass
    # The first "started", and the "stopped" that clears the indicator.
    assert [e["on"] for e in published] == [True, False]


def test_a_connect_during_a_database_outage_closes_with_1013(tmp_path, postgres_url):
    """Probe: the connect crashed the error handler with AttributeError (app.py) instead of
    closing with 1013 ("try again later")."""
    settings = Settings(data_dir=tmp_path, secret_key="test-secret", database_url=postgres_url)
    app = create_app(settings)
    with TestClient(app) as client:
        conversation = start(client)
        store = app.state.services.store
        assert client.portal is not None
        client.portal.call(store.close)  # the pool is gone: every query is a BackendError
        try:
            with client.websocket_connect(ws_url(conversation)) as ws:
                ws.send_json(hello(conversation))
                assert close_code(ws) == 1013
            response = client.get(
                f"/api/v1/conversations/{conversation['id']}", headers=auth(conversation)
            )
            assert response.status_code == 503
        finally:
            client.portal.call(store.connect)


def test_the_error_handler_closes_any_socket_that_meets_a_backend_error(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, secret_key="test-secret"))

    @app.websocket("/probe/ws")
    async def failing(ws: WebSocket) -> None:  # a route of the kind the inbox socket is
        await ws.accept()
        await asyncio.sleep(0)
        raise BackendError("PostgreSQL is unreachable")

    with TestClient(app) as client, client.websocket_connect("/probe/ws") as ws:
        assert close_code(ws) == 1013
