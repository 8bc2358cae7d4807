"""Freshdesk: v2 tickets (HTML description, numeric priority/status/source, tags), the
requester found or created through contacts, idempotency through a searchable tag, and
automation webhooks authenticated by a shared secret with replay protection.

Freshdesk is the local fake in tests/helpdesk_fakes.py (real HTTP, the published formats):
the limit of what can be tested without a Freshdesk account."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from smartsupport import outbox
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import Author, IncomingMessage, utcnow
from smartsupport.helpdesk.freshdesk import key_tag
from smartsupport.helpdesk.tickets import request_ticket, ticket_note
from tests.helpdesk_fakes import (
    FRESHDESK_KEY,
    FakeApis,
    freshdesk_config,
    open_test_services,
    webhook_client,
)

SECRET = "whsec-test"
URL = "/api/v1/webhooks/freshdesk/acme"


@pytest.fixture
async def setup(tmp_path, postgres_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path,
            postgres_url,
            {"helpdesk": freshdesk_config(fake)},
            helpdesk_api_token=FRESHDESK_KEY,
        )
        try:
            yield fake, services
        finally:
            await services.close()


async def ticketed(services, email="leo@example.com", text="<b>my order</b> & the refund"):
    conv, _ = await start_conversation(services, "acme", customer={"email": email, "name": "Leo"})
    await handle_message(services, IncomingMessage(conv.id, text))
    await request_ticket(services, conv.id, reason="offline", priority="urgent")
    await outbox.run_due(services)
    return conv


def basic(password: str) -> dict[str, str]:
    token = base64.b64encode(f"freshdesk:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


async def test_ticket_fields_follow_the_v2_api(setup):
    fake, services = setup
    conv = await ticketed(services)
    [ticket] = fake.freshdesk_tickets.values()
    assert ticket["priority"] == 4 and ticket["status"] == 2 and ticket["source"] == 7
    assert "&lt;b&gt;my order&lt;/b&gt; &amp; the refund" in ticket["description"]  # escaped HTML
    assert "<b>" not in ticket["description"]
    assert key_tag(f"ticket:{conv.id}") in ticket["tags"]
    [contact] = fake.freshdesk_contacts.values()
    assert contact["email"] == "leo@example.com" and ticket["requester_id"] == contact["id"]
    [create] = fake.calls("POST", "/api/v2/tickets")
    expected = base64.b64encode(f"{FRESHDESK_KEY}:X".encode()).decode()
    assert create.headers["authorization"] == f"Basic {expected}"
    # A second request for the same conversation finds the ticket by its tag.
    await services.store.execute("UPDATE outbox SET status = 'pending'")  # type: ignore[attr-defined]
    await outbox.run_due(services)
    assert len(fake.freshdesk_tickets) == 1
    assert fake.calls("GET", "/api/v2/search/tickets")


async def test_existing_contact_is_reused(setup):
    fake, services = setup
    await ticketed(services, email="twice@example.com")
    await ticketed(services, email="twice@example.com")
    assert len(fake.freshdesk_tickets) == 2 and len(fake.freshdesk_contacts) == 1


async def test_agent_reply_with_shared_secret_reaches_the_customer(setup):
    fake, services = setup
    conv = await ticketed(services)
    [ticket_id] = list(fake.freshdesk_tickets)
    body = json.dumps(
        {
            "freshdesk_webhook": {
                "ticket_id": ticket_id,
                "ticket_latest_public_comment": "<div>Hi Leo,<br>refund done &amp; sent.</div>",
                "ticket_agent_name": "Priya",
            }
        }
    ).encode()
    async with webhook_client(services) as client:
        ok = await client.post(URL, content=body, headers=basic(SECRET))
        replay = await client.post(URL, content=body, headers=basic(SECRET))
    assert ok.status_code == 200, ok.text
    assert replay.status_code == 409
    last = (await services.store.list_messages(conv.id))[-1]
    assert last.author is Author.AGENT
    assert last.text == "Hi Leo,\nrefund done & sent."
    assert last.meta["author_name"] == "Priya"


async def test_secret_in_a_custom_header_and_sent_at_window(setup):
    fake, services = setup
    conv = await ticketed(services)
    [ticket_id] = list(fake.freshdesk_tickets)

    def payload(text, when):
        return json.dumps(
            {
                "ticket_id": ticket_id,
                "body": text,
                "author_name": "Priya",
                "sent_at": when.isoformat(),
            }
        ).encode()

    headers = {"X-Smartsupport-Webhook-Secret": SECRET}
    async with webhook_client(services) as client:
        fresh = await client.post(URL, content=payload("On its way", utcnow()), headers=headers)
        stale = await client.post(
            URL, content=payload("Old news", utcnow() - timedelta(hours=1)), headers=headers
        )
    assert fresh.status_code == 200 and stale.status_code == 401
    assert (await services.store.list_messages(conv.id))[-1].text == "On its way"


async def test_wrong_or_missing_secret_is_401(setup):
    fake, services = setup
    conv = await ticketed(services)
    before = len(await services.store.list_messages(conv.id))
    body = json.dumps({"ticket_id": list(fake.freshdesk_tickets)[0], "body": "phish"}).encode()
    async with webhook_client(services) as client:
        responses = [
            await client.post(URL, content=body, headers=basic("wrong")),
            await client.post(URL, content=body, headers={"X-Smartsupport-Webhook-Secret": "nope"}),
            await client.post(URL, content=body),
            await client.post(URL, content=body, headers={"Authorization": "Basic !!!notbase64"}),
            await client.post(URL, content=b"not json", headers=basic(SECRET)),
        ]
    assert [r.status_code for r in responses] == [401] * 5
    assert len(await services.store.list_messages(conv.id)) == before


async def test_customer_follow_ups_become_private_notes(setup):
    fake, services = setup
    conv = await ticketed(services)
    # The conversation path forwards what the customer writes once a ticket exists.
    result = await handle_message(services, IncomingMessage(conv.id, "I <3 your shop"))
    # ... in the turn's own transaction: queueing the same note again is a no-op.
    workspace_id, note = await ticket_note(services, result.message)
    assert not await outbox.enqueue(services.store, workspace_id, note)
    await outbox.run_due(services)
    [ticket] = fake.freshdesk_tickets.values()
    [note] = ticket["notes"]
    assert note["private"] is True and "I &lt;3 your shop" in note["body"]
