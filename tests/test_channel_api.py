"""The API channel: a business's app posts its users' messages with an API key and receives
every reply as a signed webhook (HMAC-SHA256 over timestamp and body, a delivery id, retries
with backoff through the outbox). The receiving end is a local server that checks the
signature from the published recipe (tests/messaging_fakes.py)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from smartsupport import outbox
from smartsupport.channels.api_channel import sign, verify_webhook
from smartsupport.domain import Author, utcnow
from smartsupport.errors import Unauthorized
from smartsupport.fanout import conversation_lock
from smartsupport.feedback import ratings_of
from smartsupport.inbox.changes import post
from tests.messaging_fakes import API_SECRET, HOOK_PATH
from tests.messagingkit import channel_secrets, running, settle, wait_for  # noqa: F401

URL = "/api/v1/channels/api/demo/messages"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_message_is_answered_and_every_reply_arrives_as_a_signed_webhook(
    tmp_path, database_url
):
    async with running(tmp_path, database_url) as run:
        key = await run.api_key("messages:write")
        body = {"user_id": "u-42", "message_id": "m-1", "text": "Hello", "name": "Maria"}
        response = await run.http.post(URL, json=body, headers=bearer(key))
        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer["duplicate"] is False and answer["message"]["text"] == "Hello"
        assert answer["replies"], "the assistant answered"
        await wait_for(
            lambda: len(run.fake.hook_deliveries) >= len(answer["replies"]), what="webhooks"
        )
        assert run.fake.problems == [], "every signature checked out"
        delivered = run.fake.hook_deliveries[0]
        assert delivered["type"] == "message.created" and delivered["user_id"] == "u-42"
        assert delivered["conversation_id"] == answer["conversation_id"]
        assert delivered["message"]["id"] == answer["replies"][0]["id"]
        assert delivered["delivery_id"].startswith("api.webhook:")

        # An agent's later reply goes out the same way.
        async with conversation_lock(run.services, answer["conversation_id"]):
            await post(run.services, answer["conversation_id"], Author.AGENT, "Hi, Sam here")
        await wait_for(
            lambda: any(d["message"]["text"] == "Hi, Sam here" for d in run.fake.hook_deliveries),
            what="the agent's reply",
        )


async def test_a_missing_or_wrong_key_is_refused_and_nothing_is_stored(tmp_path):
    async with running(tmp_path) as run:
        body = {"user_id": "u-1", "message_id": "m-1", "text": "Hello"}
        assert (await run.http.post(URL, json=body)).status_code == 401
        forged = "sk_" + "a" * 12 + "_" + "b" * 40
        assert (await run.http.post(URL, json=body, headers=bearer(forged))).status_code == 401
        reader = await run.api_key("conversations:read")
        assert (await run.http.post(URL, json=body, headers=bearer(reader))).status_code == 403
        assert await run.services.store.list_conversations("demo") == []


async def test_the_same_message_id_twice_is_one_message_and_one_set_of_webhooks(tmp_path):
    async with running(tmp_path) as run:
        key = await run.api_key()
        body = {"user_id": "u-7", "message_id": "m-9", "text": "Do you ship to Norway?"}
        first = (await run.http.post(URL, json=body, headers=bearer(key))).json()
        again = (await run.http.post(URL, json=body, headers=bearer(key))).json()
        assert again["duplicate"] is True and again["message"]["id"] == first["message"]["id"]
        await settle(run.services)
        ids = [d["delivery_id"] for d in run.fake.hook_deliveries]
        assert len(ids) == len(set(ids)) == len(first["replies"])


async def test_an_endpoint_outage_is_retried_with_backoff_and_the_same_delivery_id(tmp_path):
    async with running(tmp_path, outbox_poll_seconds=60) as run:
        run.fake.fail(503, path_prefix=HOOK_PATH, retry_after=30)
        key = await run.api_key()
        body = {"user_id": "u-3", "message_id": "m-3", "text": "Where is my refund?"}
        await run.http.post(URL, json=body, headers=bearer(key))
        now = utcnow()
        for minute in range(0, 20, 2):
            await outbox.run_due(run.services, now=now + timedelta(minutes=minute))
        entries = [
            e for e in await outbox.list_entries(run.services.store) if e.kind == "api.webhook"
        ]
        assert entries and all(e.status == "pending" and e.attempts >= 2 for e in entries)
        run.fake.recover()
        await outbox.run_due(run.services, now=now + timedelta(hours=2))
        assert sorted(d["delivery_id"] for d in run.fake.hook_deliveries) == sorted(
            e.idempotency_key for e in entries
        )
        assert run.fake.problems == []


async def test_an_endpoint_that_refuses_a_delivery_leaves_a_dead_letter(tmp_path):
    async with running(tmp_path, outbox_poll_seconds=60) as run:
        run.fake.fail(410, path_prefix=HOOK_PATH)
        key = await run.api_key()
        body = {"user_id": "u-4", "message_id": "m-4", "text": "Hello"}
        await run.http.post(URL, json=body, headers=bearer(key))
        await settle(run.services)
        dead = await outbox.list_entries(run.services.store, status="dead")
        assert dead and "HTTP 410" in dead[0].last_error
        assert HOOK_PATH not in dead[0].last_error, "the webhook URL is never in an error"


def test_the_receivers_check_refuses_replays_and_tampering():
    body = json.dumps({"delivery_id": "d1"}).encode()
    now = time.time()
    header = sign(API_SECRET, int(now), body)
    assert verify_webhook(API_SECRET, header, body, now=now) == int(now)
    for bad_header, bad_body, at in (
        (header, body + b" ", now),  # the body was changed
        (sign("other-secret" * 3, int(now), body), body, now),  # not our secret
        (header, body, now + 301),  # replayed after the tolerance
        ("v1=abc", body, now),  # no timestamp
        (None, body, now),
    ):
        with pytest.raises(Unauthorized):
            verify_webhook(API_SECRET, bad_header, bad_body, now=at)


async def test_the_demo_order_tracking_flow_runs_end_to_end_over_the_api(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        key = await run.api_key()
        first = {"user_id": "shopper-1", "message_id": "a", "text": "I want to track ORD-10234"}
        asked = (await run.http.post(URL, json=first, headers=bearer(key))).json()
        assert any("email" in r["text"] for r in asked["replies"])
        second = {"user_id": "shopper-1", "message_id": "b", "text": "maria@example.com"}
        tracked = (await run.http.post(URL, json=second, headers=bearer(key))).json()
        assert tracked["conversation_id"] == asked["conversation_id"]
        text = " ".join(r["text"] for r in tracked["replies"])
        assert "ORD-10234 has shipped with UPS" in text and "1Z999AA10123456784" in text
        await wait_for(
            lambda: any(
                "shipped with UPS" in d["message"]["text"] for d in run.fake.hook_deliveries
            ),
            what="the tracking answer as a webhook",
        )
        assert run.fake.problems == []


# -- thumbs on answers -------------------------------------------------------------------------
QUESTION = "Wie lange dauert der Versand nach Deutschland?"  # answered from the articles


def feedback_url(message_id: str, workspace: str = "demo") -> str:
    return f"/api/v1/channels/api/{workspace}/messages/{message_id}/feedback"


async def test_a_user_rates_an_answer_the_webhook_marked_rateable(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        key = await run.api_key()
        body = {"user_id": "u-8", "message_id": "q-1", "text": QUESTION}
        answer = (await run.http.post(URL, json=body, headers=bearer(key))).json()
        (rated,) = [r for r in answer["replies"] if r["rateable"]]
        assert rated["citations"] and answer["message"]["rateable"] is False
        await wait_for(
            lambda: any(d["message"]["id"] == rated["id"] for d in run.fake.hook_deliveries),
            what="the answer's webhook",
        )
        (delivered,) = [d for d in run.fake.hook_deliveries if d["message"]["id"] == rated["id"]]
        assert delivered["message"]["rateable"] is True and run.fake.problems == []

        vote = {"user_id": "u-8", "rating": 1}
        response = await run.http.post(feedback_url(rated["id"]), json=vote, headers=bearer(key))
        assert response.status_code == 201, response.text
        given = response.json()
        assert given["changed"] is True and given["channel"] == "api"
        assert (given["message_id"], given["rating"]) == (rated["id"], 1)
        again = await run.http.post(feedback_url(rated["id"]), json=vote, headers=bearer(key))
        assert again.status_code == 201 and again.json()["changed"] is False  # a client retry
        (rating,) = await ratings_of(run.services, answer["conversation_id"])
        assert (rating.rating, rating.source, rating.channel) == (1, "customer", "api")

        down = {"user_id": "u-8", "rating": -1, "reason": "not_helpful"}
        changed = await run.http.post(feedback_url(rated["id"]), json=down, headers=bearer(key))
        assert changed.status_code == 201 and changed.json()["changed"] is True
        (rating,) = await ratings_of(run.services, answer["conversation_id"])
        assert (rating.rating, rating.reason, rating.channel) == (-1, "not_helpful", "api")


async def test_a_rating_of_anything_but_the_users_own_rateable_answer_is_refused(tmp_path):
    async with running(tmp_path) as run:
        key = await run.api_key()
        mine = {"user_id": "u-1", "message_id": "a", "text": QUESTION}
        answer = (await run.http.post(URL, json=mine, headers=bearer(key))).json()
        (rated,) = [r for r in answer["replies"] if r["rateable"]]
        theirs = {"user_id": "u-2", "message_id": "b", "text": "Hello"}
        other = (await run.http.post(URL, json=theirs, headers=bearer(key))).json()
        greeting = next(r for r in other["replies"] if r["author"] == "bot")
        assert greeting["rateable"] is False

        async def rate(message_id: str, **body: object) -> tuple[int, str]:
            vote = {"user_id": "u-1", "rating": 1, **body}
            response = await run.http.post(feedback_url(message_id), json=vote,
                                           headers=bearer(key))  # fmt: skip
            assert response.status_code < 500, response.text
            error = response.json().get("error") or {}
            return response.status_code, error.get("code", "")

        # u-2 cannot rate u-1's answer, and u-1 cannot rate u-2's: "not found" either way.
        assert await rate(rated["id"], user_id="u-2") == (404, "not_found")
        assert await rate(greeting["id"]) == (404, "not_found")
        assert await rate(rated["id"], user_id="nobody") == (404, "not_found")
        assert await rate("0" * 32) == (404, "not_found")
        assert (await rate(greeting["id"], user_id="u-2")) == (422, "not_rateable")
        assert await rate(answer["message"]["id"]) == (422, "not_a_bot_answer")
        assert await rate(rated["id"], rating=5) == (422, "invalid_rating")
        assert (await rate(rated["id"], rating="up"))[0] == 422
        assert (await rate(rated["id"], rating=True))[0] == 422
        assert (await rate(rated["id"], reason="x" * 501))[0] == 422
        assert (await rate("m" * 65))[0] == 422
        broken = await run.http.post(
            feedback_url(rated["id"]), content=b"{", headers={**bearer(key),
            "Content-Type": "application/json"},
        )  # fmt: skip
        assert broken.status_code == 400
        vote = {"user_id": "u-1", "rating": 1}
        assert (await run.http.post(feedback_url(rated["id"]), json=vote)).status_code == 401
        reader = await run.api_key("conversations:read")
        refused = await run.http.post(feedback_url(rated["id"]), json=vote, headers=bearer(reader))
        assert refused.status_code == 403
        for conversation_id in (answer["conversation_id"], other["conversation_id"]):
            assert await ratings_of(run.services, conversation_id) == []
