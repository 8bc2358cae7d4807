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
