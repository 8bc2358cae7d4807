"""Zendesk: tickets with transcript, tags, priority and a requester found or created by
email; signed webhooks bring an agent's public reply into the conversation; forged, stale
and replayed webhooks are refused with 401/409, never 500.

Zendesk itself is the local fake in tests/helpdesk_fakes.py (real HTTP, the published
request and response formats): the limit of what can be tested without a Zendesk account."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import pytest

from smartsupport import outbox
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import Author, IncomingMessage, utcnow
from smartsupport.helpdesk import open_helpdesk
from smartsupport.helpdesk.tickets import request_ticket, ticket_note
from smartsupport.helpdesk.zendesk import sign
from smartsupport.wire import conversation_channel
from tests.helpdesk_fakes import (
    ZENDESK_EMAIL,
    ZENDESK_TOKEN,
    FakeApis,
    open_test_services,
    webhook_client,
    zendesk_config,
)

SECRET = "whsec-test"


@pytest.fixture
async def setup(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        escalation = {"helpdesk": zendesk_config(fake, tags=["chat", "smartsupport"])}
        services = await open_test_services(tmp_path, sqlite_url, escalation)
        try:
            yield fake, services
        finally:
            await services.close()


async def ticketed_conversation(
    services, email="ana@example.com", text="Where is order ORD-10234?"
):
    conv, _ = await start_conversation(services, "acme", customer={"email": email, "name": "Ana"})
    await handle_message(services, IncomingMessage(conv.id, text))
    await request_ticket(services, conv.id, reason="customer asked for a person", priority="high")
    await outbox.run_due(services)
    return conv


def comment_event(ticket_id: str, body: str, *, public=True, staff=True) -> bytes:
    return json.dumps(
        {
            "type": "zen:event-type:ticket.comment_added",
            "account_id": 1,
            "id": "01J-event",
            "time": utcnow().isoformat(),
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket_id}",
            "detail": {"id": ticket_id, "status": "OPEN"},
            "event": {
                "comment": {
                    "id": "9001",
                    "body": body,
                    "is_public": public,
                    "author": {"id": "77", "is_staff": staff, "name": "Jane from Support"},
                }
            },
        }
    ).encode()


def signed_headers(body: bytes, *, secret=SECRET, when=None) -> dict[str, str]:
    timestamp = (when or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature": sign(secret, timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


async def test_ticket_carries_transcript_tags_priority_and_requester(setup):
    fake, services = setup
    conv = await ticketed_conversation(services)
    [ticket] = fake.zendesk_tickets.values()
    assert ticket["external_id"] == f"ticket:{conv.id}"
    assert ticket["priority"] == "high"
    assert "Customer: Where is order ORD-10234?" in ticket["description"]
    assert "Assistant:" in ticket["description"]  # the bot's answer is in the transcript
    assert f"https://support.acme.example/inbox/conversations/{conv.id}" in ticket["description"]
    assert ticket["comment_public"] is False  # the transcript is for agents only
    assert {"chat", "smartsupport", "intent_order_status"} <= set(ticket["tags"])
    [user] = fake.zendesk_users.values()
    assert user["email"] == "ana@example.com" and ticket["requester_id"] == user["id"]
    [create] = fake.calls("POST", "/api/v2/tickets.json")
    assert create.headers["idempotency-key"] == f"ticket:{conv.id}"
    expected = base64.b64encode(f"{ZENDESK_EMAIL}/token:{ZENDESK_TOKEN}".encode()).decode()
    assert create.headers["authorization"] == f"Basic {expected}"
    stored = await services.store.get_conversation(conv.id)
    assert stored.metadata["ticket"]["id"] == str(ticket["id"])
    assert stored.metadata["ticket"]["url"].endswith(f"/agent/tickets/{ticket['id']}")


async def test_a_known_requester_is_found_not_created_again(setup):
    fake, services = setup
    await ticketed_conversation(services, email="same@example.com")
    await ticketed_conversation(services, email="SAME@example.com")
    assert len(fake.zendesk_tickets) == 2
    assert len(fake.zendesk_users) == 1
    assert len(fake.calls("POST", "/api/v2/users.json")) == 1


async def test_an_agent_reply_reaches_the_conversation_live(setup):
    fake, services = setup
    conv = await ticketed_conversation(services)
    [ticket_id] = [str(t) for t in fake.zendesk_tickets]
    subscription = await services.backplane.subscribe(conversation_channel(conv.id))
    body = comment_event(ticket_id, "Your parcel left our warehouse today.")
    async with webhook_client(services) as client:
        response = await client.post(
            "/api/v1/webhooks/zendesk/acme", content=body, headers=signed_headers(body)
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"delivered": 1}
    messages = await services.store.list_messages(conv.id)
    last = messages[-1]
    assert last.author is Author.AGENT and last.text == "Your parcel left our warehouse today."
    assert last.meta["author_name"] == "Jane from Support"

    async def first_event():
        async for event in subscription:
            return event

    event = await asyncio.wait_for(first_event(), 5)
    assert event["type"] == "message" and event["message"]["author"] == "agent"
    await subscription.close()


async def test_trigger_shaped_payload_is_understood(setup):
    fake, services = setup
    conv = await ticketed_conversation(services)
    [ticket_id] = [str(t) for t in fake.zendesk_tickets]
    body = json.dumps(
        {"ticket_id": ticket_id, "body": "Refund issued.", "author_name": "Sam"}
    ).encode()
    async with webhook_client(services) as client:
        response = await client.post(
            "/api/v1/webhooks/zendesk/acme", content=body, headers=signed_headers(body)
        )
    assert response.status_code == 200
    assert (await services.store.list_messages(conv.id))[-1].text == "Refund issued."


async def test_forged_stale_unsigned_and_replayed_webhooks_are_refused(setup):
    fake, services = setup
    conv = await ticketed_conversation(services)
    [ticket_id] = [str(t) for t in fake.zendesk_tickets]
    before = len(await services.store.list_messages(conv.id))
    body = comment_event(ticket_id, "Hello from an attacker")
    url = "/api/v1/webhooks/zendesk/acme"
    async with webhook_client(services) as client:
        forged = await client.post(url, content=body, headers=signed_headers(body, secret="guess"))
        tampered = await client.post(
            url, content=body.replace(b"attacker", b"attackers"), headers=signed_headers(body)
        )
        stale = await client.post(
            url, content=body, headers=signed_headers(body, when=utcnow() - timedelta(minutes=10))
        )
        unsigned = await client.post(url, content=body)
        garbage = await client.post(
            url,
            content=body,
            headers={**signed_headers(body), "X-Zendesk-Webhook-Signature-Timestamp": "yesterday"},
        )
        headers = signed_headers(body)
        first = await client.post(url, content=body, headers=headers)
        replay = await client.post(url, content=body, headers=headers)
        other_workspace = await client.post(
            "/api/v1/webhooks/zendesk/nope", content=body, headers=headers
        )
        wrong_provider = await client.post(
            "/api/v1/webhooks/freshdesk/acme", content=body, headers=headers
        )
        huge = await client.post(url, content=b"x" * (300 * 1024), headers=headers)
    assert [r.status_code for r in (forged, tampered, stale, unsigned, garbage)] == [401] * 5
    assert all(r.json()["error"]["code"] == "unauthorized" for r in (forged, stale, unsigned))
    assert first.status_code == 200
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "replayed"
    assert other_workspace.status_code == 404 and wrong_provider.status_code == 404
    assert huge.status_code == 413
    assert len(await services.store.list_messages(conv.id)) == before + 1  # only the genuine one


async def test_private_notes_and_unknown_tickets_are_ignored(setup):
    fake, services = setup
    conv = await ticketed_conversation(services)
    [ticket_id] = [str(t) for t in fake.zendesk_tickets]
    before = len(await services.store.list_messages(conv.id))
    async with webhook_client(services) as client:
        for body in (
            comment_event(ticket_id, "internal: customer is grumpy", public=False),
            comment_event(ticket_id, "customer wrote back", staff=False),
            comment_event("999999", "some other ticket"),
        ):
            response = await client.post(
                "/api/v1/webhooks/zendesk/acme", content=body, headers=signed_headers(body)
            )
            assert response.status_code == 202
    assert len(await services.store.list_messages(conv.id)) == before


async def test_webhooks_are_refused_when_no_secret_is_configured(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, sqlite_url, {"helpdesk": zendesk_config(fake)}, helpdesk_webhook_secret=None
        )
        try:
            body = comment_event("1", "hi")
            async with webhook_client(services) as client:
                response = await client.post(
                    "/api/v1/webhooks/zendesk/acme", content=body, headers=signed_headers(body)
                )
            assert response.status_code == 401
            assert "whsec" not in repr(open_helpdesk(services, "acme").webhook_secret)
        finally:
            await services.close()


async def test_customer_follow_ups_in_the_chat_are_added_to_the_ticket(setup):
    fake, services = setup
    conv = await ticketed_conversation(services)
    # The conversation path forwards what the customer writes once a ticket exists.
    result = await handle_message(services, IncomingMessage(conv.id, "Also, it was a gift"))
    # ... in the turn's own transaction: queueing the same note again is a no-op.
    workspace_id, note = await ticket_note(services, result.message)
    assert not await outbox.enqueue(services.store, workspace_id, note)
    await outbox.run_due(services)
    [ticket] = fake.zendesk_tickets.values()
    [note] = ticket["comments"]
    assert note == {"body": "Customer wrote in the chat:\nAlso, it was a gift", "public": False}
