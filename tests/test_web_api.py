"""The web channel's REST API, on the embedded defaults and on PostgreSQL + Redis.

The tests call the API through the typed client generated from the app's own /openapi.json
(tests/apiclient.py, the ``api`` fixture) and assert on its models, so a route that answers
something its description does not say fails here. Bodies no typed client can send (broken
JSON, unknown fields) go through the raw TestClient.
"""

from __future__ import annotations

from typing import Any

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


@pytest.fixture
def http(api, client):
    """The generated client, sending through the app's TestClient."""
    return api.client(client)


def start(api, http, **fields: Any) -> Any:
    created = api.create_conversation.sync(
        client=http, body=api.models.ConversationIn(workspace="demo", **fields)
    )
    assert isinstance(created, api.models.ConversationOut), created
    return created


def bearer(conversation: Any) -> str:
    return f"Bearer {conversation.token}"


def post(api, http, conversation: Any, text: str, client_id: str | None = None) -> Any:
    """Send a message; the full response (status, headers, parsed model)."""
    return api.post_message.sync_detailed(
        conversation.id,
        client=http,
        body=api.models.MessageIn(text=text, client_id=client_id),
        authorization=bearer(conversation),
    )


def turn(api, http, conversation: Any, text: str, client_id: str | None = None) -> Any:
    response = post(api, http, conversation, text, client_id)
    assert response.status_code == 201, response.content
    assert isinstance(response.parsed, api.models.TurnOut)
    return response.parsed


def listed(api, http, conversation: Any, **query: Any) -> Any:
    found = api.list_messages.sync(
        conversation.id, client=http, authorization=bearer(conversation), **query
    )
    assert isinstance(found, api.models.MessagesOut), found
    return found


def test_start_conversation_returns_id_token_and_stored_greeting(api, http):
    customer = api.models.CustomerIn(external_id="u-1", locale="en", segment="vip")
    conversation = start(api, http, customer=customer)
    assert conversation.status == api.models.ConversationStatus.BOT
    [greeting] = conversation.messages
    assert greeting.seq == 1 and greeting.author == api.models.Author.BOT
    assert "Where is my order?" in greeting.quick_replies


def test_message_gets_a_reply_and_both_are_stored_in_order(api, http):
    conversation = start(api, http)
    first = turn(api, http, conversation, "Where is my order ORD-10234?", "c1")
    assert first.message.seq == 2 and first.message.author == api.models.Author.CUSTOMER
    assert first.message.client_id == "c1"
    # An anonymous visitor proves the order is theirs before seeing it.
    assert "email" in first.replies[0].text
    second = turn(api, http, conversation, "maria@example.com", "c2")
    assert "1Z999AA10123456784" in second.replies[0].text
    assert [m.seq for m in listed(api, http, conversation).messages] == [1, 2, 3, 4, 5]
    after = listed(api, http, conversation, after=3)
    assert [m.seq for m in after.messages] == [4, 5]
    assert after.status == api.models.ConversationStatus.BOT


def test_same_client_id_twice_stores_one_message_and_returns_the_same_result(api, http):
    conversation = start(api, http)
    first = post(api, http, conversation, "shipping?", "same")
    second = post(api, http, conversation, "shipping?", "same")
    assert first.status_code == second.status_code == 201
    assert first.parsed.to_dict() == second.parsed.to_dict()
    assert second.headers["Idempotent-Replay"] == "true"
    authors = [m.author for m in listed(api, http, conversation).messages]
    assert authors == ["bot", "customer", "bot"]


def test_asking_for_a_human_marks_the_conversation_waiting(api, http):
    conversation = start(api, http)
    answer = turn(api, http, conversation, "I want to talk to a human", "h")
    assert answer.status == api.models.ConversationStatus.WAITING_FOR_AGENT
    state = api.get_conversation.sync(
        conversation.id, client=http, authorization=bearer(conversation)
    )
    assert isinstance(state, api.models.ConversationStateOut)
    assert state.status == api.models.ConversationStatus.WAITING_FOR_AGENT
    assert state.id == conversation.id and state.workspace == "demo"
    assert state.last_seq == answer.replies[-1].seq


def test_html_is_stored_and_returned_as_plain_text(api, http):
    conversation = start(api, http)
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    assert turn(api, http, conversation, evil, "x").message.text == evil


@pytest.mark.parametrize(
    ("text", "client_id", "code"),
    [
        ("x" * 4001, "big", "message_too_long"),
        ("", "e", "invalid_input"),
        ("   ", "w", "invalid_input"),
        ("hi", "x" * 65, "invalid_input"),
    ],
)
def test_bad_messages_get_a_422_error_body_and_store_nothing(api, http, text, client_id, code):
    conversation = start(api, http)
    response = post(api, http, conversation, text, client_id)
    assert response.status_code == 422, response.content
    assert isinstance(response.parsed, api.models.ErrorBody)
    assert response.parsed.error.code == code and response.parsed.error.message
    assert len(listed(api, http, conversation).messages) == 1


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
        ),
        ({"json": {"client_id": "no-text"}}, 422, "invalid_input"),
        ({"json": {"text": "hi", "unknown": 1}}, 422, "invalid_input"),
    ],
)
def test_bodies_no_typed_client_can_send_get_a_clear_4xx(api, http, client, kwargs, status, code):
    conversation = start(api, http)
    url = f"/api/v1/conversations/{conversation.id}/messages"
    kwargs = dict(kwargs)  # parametrised values are shared between the backend variants
    headers = {"Authorization": bearer(conversation), **kwargs.pop("headers", {})}
    response = client.post(url, headers=headers, **kwargs)
    assert response.status_code == status, response.text
    error = api.models.ErrorBody.from_dict(response.json()).error
    assert error.code == code and error.message
    assert len(listed(api, http, conversation).messages) == 1


def test_tokens_authorise_one_conversation_only(api, http):
    mine, theirs = start(api, http), start(api, http)
    missing = api.list_messages.sync_detailed(theirs.id, client=http)
    assert missing.status_code == 401 and missing.parsed.error.code == "unauthorized"
    forged = api.list_messages.sync_detailed(theirs.id, client=http, authorization="Bearer v1.a.b")
    assert forged.status_code == 401 and isinstance(forged.parsed, api.models.ErrorBody)
    foreign = api.post_message.sync_detailed(
        theirs.id, client=http, body=api.models.MessageIn(text="hi"), authorization=bearer(mine)
    )
    assert foreign.status_code == 403 and foreign.parsed.error.code == "forbidden"
    assert len(listed(api, http, theirs).messages) == 1


def test_unknown_conversation_and_workspace_are_404(api, http):
    from smartsupport.visitor_tokens import issue_token

    token = issue_token(b"test-secret", "0" * 32)
    response = api.list_messages.sync_detailed(
        "0" * 32, client=http, authorization=f"Bearer {token}"
    )
    assert response.status_code == 404 and response.parsed.error.code == "not_found"
    response = api.create_conversation.sync_detailed(
        client=http, body=api.models.ConversationIn(workspace="nope")
    )
    assert response.status_code == 404
    assert "nope" in response.parsed.error.message


def test_health_and_readiness(api, http):
    health = api.get_health.sync(client=http)
    assert isinstance(health, api.models.Health) and health.status == "ok" and health.version
    ready = api.get_readiness.sync_detailed(client=http)
    assert ready.status_code == 200
    assert ready.parsed.status == "ok" and ready.parsed.database == ready.parsed.backplane == "ok"


def test_rate_limit_answers_429_with_retry_after(api, tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="k", rate_limit_per_minute=3)
    with TestClient(create_app(settings)) as client:
        http = api.client(client)
        conversation = start(api, http)
        codes = [post(api, http, conversation, f"hi {i}", f"r{i}").status_code for i in range(4)]
        assert codes == [201, 201, 201, 429]
        limited = post(api, http, conversation, "again", "r9")
        assert limited.status_code == 429 and limited.parsed.error.code == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
