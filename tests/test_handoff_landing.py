"""Handoffs always land somewhere (issue 16, item 6): the contact form becomes a ticket, or an
inbox conversation without a helpdesk; the same form twice makes nothing twice; handoffs and
unsure turns queue the tickets the workspace asks for in the turn; a ticket's status in the
helpdesk flows back to the conversation.

Zendesk and Freshdesk are the local fakes in tests/helpdesk_fakes.py (their published request
and response formats): the limit of what can be tested without their accounts."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from smartsupport import outbox
from smartsupport.app import _install_error_handlers
from smartsupport.channels.web_api import router
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import Author, ConversationStatus, IncomingMessage, utcnow
from smartsupport.helpdesk.tickets import request_ticket
from smartsupport.helpdesk.zendesk import sign
from smartsupport.visitor_tokens import issue_token
from tests.helpdesk_fakes import (
    FRESHDESK_KEY,
    FakeApis,
    freshdesk_config,
    open_test_services,
    webhook_client,
    zendesk_config,
)

PERSON = {"name": "person", "type": "human_request", "action": "transfer"}
UNSURE = {"name": "unsure", "type": "low_confidence", "action": "offer_human", "times": 2}


def api(services) -> httpx.AsyncClient:
    app = FastAPI()
    app.state.services = services
    _install_error_handlers(app)
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def send_form(services, conversation_id, **body):
    auth = {"Authorization": f"Bearer {issue_token(services.secret_key, conversation_id)}"}
    async with api(services) as client:
        return await client.post(
            f"/api/v1/conversations/{conversation_id}/contact", json=body, headers=auth
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_without_a_helpdesk_the_form_becomes_an_inbox_conversation_once(
    backend, tmp_path, sqlite_url, postgres_url
):
    url = sqlite_url if backend == "sqlite" else postgres_url
    services = await open_test_services(tmp_path, url, {})
    try:
        conv, _ = await start_conversation(services, "acme")
        form = {"email": "mia@example.com", "name": "Mia", "question": "Is the shop open Sunday?"}
        first = await send_form(services, conv.id, **form)
        again = await send_form(services, conv.id, **form)  # a double click
        assert first.status_code == 201, first.text
        assert again.status_code == 201 and again.headers["Idempotent-Replay"] == "true"
        assert first.json()["ticket"] is False
        assert again.json()["messages"] == first.json()["messages"]
        stored = await services.store.get_conversation(conv.id)
        assert stored.status is ConversationStatus.WAITING  # in the agents' queue
        assert stored.metadata["contact"] == {"email": "mia@example.com", "name": "Mia"}
        texts = [m.text for m in await services.store.list_messages(conv.id)]
        assert texts.count("Is the shop open Sunday?") == 1 and len(texts) == 3
        assert "mia@example.com" in texts[-1]
        events = [e.type for e in await services.store.list_events("acme", conversation_id=conv.id)]
        assert events.count("contact.queued") == 1
        assert await outbox.list_entries(services.store) == []  # type: ignore[arg-type]
    finally:
        await services.close()


async def test_the_form_twice_makes_one_ticket_and_a_new_question_becomes_a_note(
    tmp_path, sqlite_url
):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, sqlite_url, {"helpdesk": zendesk_config(fake)}
        )
        try:
            conv, _ = await start_conversation(services, "acme")
            form = {"email": "mia@example.com", "question": "Where is ORD-10234?"}
            first = await send_form(services, conv.id, **form)
            await send_form(services, conv.id, **form)
            assert first.json()["ticket"] is True
            await outbox.run_due(services)
            assert len(fake.zendesk_tickets) == 1
            later = await send_form(
                services, conv.id, email="mia@example.com", question="Also: gift wrap?"
            )
            assert later.status_code == 201 and "Idempotent-Replay" not in later.headers
            await outbox.run_due(services)
            assert len(fake.zendesk_tickets) == 1  # still one ticket
            [ticket] = fake.zendesk_tickets.values()
            assert any("Also: gift wrap?" in c["body"] for c in ticket.get("comments", []))
            questions = [
                m.text
                for m in await services.store.list_messages(conv.id)
                if m.author is Author.CUSTOMER
            ]
            assert questions == ["Where is ORD-10234?", "Also: gift wrap?"]
        finally:
            await services.close()


async def test_a_handoff_queues_a_ticket_in_the_turn_when_the_workspace_says_so(
    tmp_path, sqlite_url
):
    async with FakeApis() as fake:
        escalation = {
            "rules": [PERSON],
            "helpdesk": zendesk_config(fake, ticket_on_handoff=True),
        }
        services = await open_test_services(tmp_path, sqlite_url, escalation)
        try:
            conv, _ = await start_conversation(
                services, "acme", customer={"email": "li@example.com"}
            )
            result = await handle_message(
                services, IncomingMessage(conv.id, "I want to talk to a person")
            )
            assert result.conversation.status is ConversationStatus.WAITING
            [entry] = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert entry.kind == "ticket.create" and entry.idempotency_key == f"ticket:{conv.id}"
            await handle_message(services, IncomingMessage(conv.id, "a person please!"))
            await outbox.run_due(services)
            [ticket] = fake.zendesk_tickets.values()
            assert "I want to talk to a person" in ticket["description"]
            stored = await services.store.get_conversation(conv.id)
            assert stored.metadata["ticket"]["id"] == str(ticket["id"])
        finally:
            await services.close()


async def test_no_ticket_on_handoff_unless_the_workspace_says_so(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        escalation = {"rules": [PERSON], "helpdesk": zendesk_config(fake)}
        services = await open_test_services(tmp_path, sqlite_url, escalation)
        try:
            conv, _ = await start_conversation(services, "acme")
            await handle_message(services, IncomingMessage(conv.id, "I want to talk to a person"))
            assert await outbox.list_entries(services.store) == []  # type: ignore[arg-type]
        finally:
            await services.close()


async def test_unsure_turns_join_the_low_confidence_batch_in_the_turn(tmp_path, postgres_url):
    async with FakeApis() as fake:
        batching = {"enabled": True, "window_minutes": 30}
        escalation = {
            "rules": [UNSURE],
            "helpdesk": zendesk_config(fake, batch_low_confidence=batching),
        }
        services = await open_test_services(tmp_path, postgres_url, escalation)
        try:
            ids = []
            for words in (("blorp quux?", "zzz qqq"), ("frobnicate my widget", "wibble wobble")):
                conv, _ = await start_conversation(services, "acme")
                for text in words:
                    await handle_message(services, IncomingMessage(conv.id, text))
                ids.append(conv.id)
            entries = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert sorted(e.kind for e in entries) == ["ticket.batch_join"] * 2
            await outbox.run_due(services)  # the joins: due now; the batch: when the window closes
            assert fake.zendesk_tickets == {}
            await outbox.run_due(services, now=utcnow() + timedelta(minutes=31))
            [ticket] = fake.zendesk_tickets.values()
            assert "low_confidence" in ticket["tags"]
            assert all(cid in ticket["description"] for cid in ids)
        finally:
            await services.close()


def status_event(ticket_id: str, current: str) -> bytes:
    """Zendesk's ``ticket.status_changed`` event, as its webhook event types page shows it."""
    return json.dumps(
        {
            "type": "zen:event-type:ticket.status_changed",
            "account_id": 1,
            "id": f"01J-status-{current}",
            "time": utcnow().isoformat(),
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket_id}",
            "detail": {"id": ticket_id, "status": current},
            "event": {"current": current, "previous": "OPEN"},
        }
    ).encode()


def zendesk_headers(body: bytes) -> dict[str, str]:
    timestamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature": sign("whsec-test", timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


async def test_a_ticket_solved_in_zendesk_resolves_the_conversation(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, sqlite_url, {"helpdesk": zendesk_config(fake)}
        )
        try:
            conv, _ = await start_conversation(
                services, "acme", customer={"email": "a@example.com"}
            )
            await handle_message(services, IncomingMessage(conv.id, "my parcel is lost"))
            await request_ticket(services, conv.id, reason="offline")
            await outbox.run_due(services)
            [ticket_id] = [str(t) for t in fake.zendesk_tickets]
            url = "/api/v1/webhooks/zendesk/acme"
            async with webhook_client(services) as client:
                pending = status_event(ticket_id, "PENDING")
                r1 = await client.post(url, content=pending, headers=zendesk_headers(pending))
                after_pending = await services.store.get_conversation(conv.id)
                solved = status_event(ticket_id, "SOLVED")
                r2 = await client.post(url, content=solved, headers=zendesk_headers(solved))
                other = status_event("999999", "SOLVED")
                r3 = await client.post(url, content=other, headers=zendesk_headers(other))
            assert r1.status_code == 200 and r1.json() == {"delivered": 0, "statuses": 1}
            assert after_pending.status is ConversationStatus.BOT
            assert after_pending.metadata["ticket"]["status"] == "pending"
            assert r2.status_code == 200
            stored = await services.store.get_conversation(conv.id)
            assert stored.status is ConversationStatus.RESOLVED
            assert stored.metadata["ticket"]["status"] == "solved"
            assert r3.status_code == 202 and r3.json()["known_ticket"] is False
            statuses = [
                e.data["status"]
                for e in await services.store.list_events("acme", conversation_id=conv.id)
                if e.type == "ticket.status"
            ]
            assert statuses == ["pending", "solved"]
        finally:
            await services.close()


async def test_a_ticket_resolved_in_freshdesk_resolves_but_never_takes_it_from_an_agent(
    tmp_path, sqlite_url
):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path,
            sqlite_url,
            {"helpdesk": freshdesk_config(fake)},
            helpdesk_api_token=FRESHDESK_KEY,
        )
        try:
            held, _ = await start_conversation(
                services, "acme", customer={"email": "l@example.com"}
            )
            await handle_message(services, IncomingMessage(held.id, "refund please"))
            await request_ticket(services, held.id, reason="offline")
            await outbox.run_due(services)
            await services.store.set_status(held.id, ConversationStatus.WITH_AGENT)
            [ticket_id] = [str(t) for t in fake.freshdesk_tickets]
            body = json.dumps({"ticket_id": ticket_id, "status": "Resolved"}).encode()
            async with webhook_client(services) as client:
                response = await client.post(
                    "/api/v1/webhooks/freshdesk/acme",
                    content=body,
                    headers={
                        "X-Smartsupport-Webhook-Secret": "whsec-test",
                        "Content-Type": "application/json",
                    },
                )
            assert response.status_code == 200, response.text
            stored = await services.store.get_conversation(held.id)
            assert stored.metadata["ticket"]["status"] == "solved"
            assert stored.status is ConversationStatus.WITH_AGENT  # the agent decides
        finally:
            await services.close()
