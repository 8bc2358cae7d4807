"""The web channel's REST API, on the embedded defaults and on PostgreSQL + Redis."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from smartsupport.app import create_app
from smartsupport.settings import Settings


@pytest.fixture(params=["embedded", "postgres+redis"])
def client(request, tmp_path):
    options = {"data_dir": tmp_path, "secret_key": "test-secret"}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    with TestClient(create_app(Settings(**options))) as test_client:
        yield test_client


def start(client: TestClient, **body) -> dict:
    response = client.post("/api/v1/conversations", json={"workspace": "demo", **body})
    assert response.status_code == 201, response.text
    return response.json()


def auth(conversation: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {conversation['token']}"}


def test_start_conversation_returns_id_token_and_stored_greeting(client):
    conversation = start(client, customer={"external_id": "u-1", "locale": "en", "segment": "vip"})
    assert conversation["status"] == "bot"
    [greeting] = conversation["messages"]
    assert greeting["seq"] == 1 and greeting["author"] == "bot"
    assert "Where is my order?" in greeting["quick_replies"]


def test_message_gets_a_reply_and_both_are_stored_in_order(client):
    conversation = start(client)
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": "Where is my order ORD-10234?", "client_id": "c1"},
        headers=auth(conversation),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"]["seq"] == 2 and body["message"]["author"] == "customer"
    # An anonymous visitor proves the order is theirs before seeing it.
    assert "email" in body["replies"][0]["text"]
    body = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": "maria@example.com", "client_id": "c2"},
        headers=auth(conversation),
    ).json()
    assert "1Z999AA10123456784" in body["replies"][0]["text"]
    listed = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=auth(conversation)
    ).json()["messages"]
    assert [m["seq"] for m in listed] == [1, 2, 3, 4, 5]
    after = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages?after=3", headers=auth(conversation)
    ).json()["messages"]
    assert [m["seq"] for m in after] == [4, 5]


def test_same_client_id_twice_stores_one_message_and_returns_the_same_result(client):
    conversation = start(client)
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    first = client.post(
        url, json={"text": "shipping?", "client_id": "same"}, headers=auth(conversation)
    )
    second = client.post(
        url, json={"text": "shipping?", "client_id": "same"}, headers=auth(conversation)
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replay"] == "true"
    listed = client.get(url, headers=auth(conversation)).json()["messages"]
    assert [m["author"] for m in listed] == ["bot", "customer", "bot"]


def test_asking_for_a_human_marks_the_conversation_waiting(client):
    conversation = start(client)
    body = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": "I want to talk to a human", "client_id": "h"},
        headers=auth(conversation),
    ).json()
    assert body["status"] == "waiting_for_agent"
    state = client.get(f"/api/v1/conversations/{conversation['id']}", headers=auth(conversation))
    assert state.json()["status"] == "waiting_for_agent"


def test_html_is_stored_and_returned_as_plain_text(client):
    conversation = start(client)
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    body = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": evil, "client_id": "x"},
        headers=auth(conversation),
    ).json()
    assert body["message"]["text"] == evil


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
        ),
        ({"json": {"text": "x" * 4001, "client_id": "big"}}, 422, "message_too_long"),
        ({"json": {"text": "", "client_id": "e"}}, 422, "invalid_input"),
        ({"json": {"text": "   ", "client_id": "w"}}, 422, "invalid_input"),
        ({"json": {"client_id": "no-text"}}, 422, "invalid_input"),
        ({"json": {"text": "hi", "client_id": "x" * 65}}, 422, "invalid_input"),
        ({"json": {"text": "hi", "unknown": 1}}, 422, "invalid_input"),
    ],
)
def test_bad_messages_get_a_clear_4xx_and_store_nothing(client, kwargs, status, code):
    conversation = start(client)
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    kwargs = dict(kwargs)  # parametrised values are shared between the backend variants
    headers = {**auth(conversation), **kwargs.pop("headers", {})}
    response = client.post(url, headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert len(client.get(url, headers=auth(conversation)).json()["messages"]) == 1


def test_tokens_authorise_one_conversation_only(client):
    mine, theirs = start(client), start(client)
    url = f"/api/v1/conversations/{theirs['id']}/messages"
    missing = client.get(url)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    forged = client.get(url, headers={"Authorization": "Bearer v1.abc.def"})
    assert forged.status_code == 401
    foreign = client.post(url, json={"text": "hi"}, headers=auth(mine))
    assert foreign.status_code == 403
    assert len(client.get(url, headers=auth(theirs)).json()["messages"]) == 1


def test_unknown_conversation_and_workspace_are_404(client):
    from smartsupport.visitor_tokens import issue_token

    token = issue_token(b"test-secret", "0" * 32)
    response = client.get(
        f"/api/v1/conversations/{'0' * 32}/messages", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = client.post("/api/v1/conversations", json={"workspace": "nope"})
    assert response.status_code == 404
    assert "nope" in response.json()["error"]["message"]


def test_health_readiness_and_openapi(client):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/api/v1/conversations" in spec["paths"]
    assert "/api/v1/conversations/{conversation_id}/messages" in spec["paths"]


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="k", rate_limit_per_minute=3)
    with TestClient(create_app(settings)) as client:
        conversation = start(client)
        url = f"/api/v1/conversations/{conversation['id']}/messages"
        codes = [
            client.post(
                url, json={"text": f"hi {i}", "client_id": f"r{i}"}, headers=auth(conversation)
            ).status_code
            for i in range(4)
        ]
        assert codes == [201, 201, 201, 429]
        limited = client.post(
            url, json={"text": "again", "client_id": "r9"}, headers=auth(conversation)
        )
        assert int(limited.headers["Retry-After"]) >= 1
