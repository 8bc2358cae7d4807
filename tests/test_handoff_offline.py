"""Offline and overflow: the contact form creates a ticket and tells the customer what
happens next; conversations nobody picked up in time are offered the form once; recorded
escalations carry their priority and reason and notify the team."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from smartsupport import outbox
from smartsupport.app import _install_error_handlers
from smartsupport.channels.web_api import router
from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, ConversationStatus, utcnow
from smartsupport.handoff.config import check_workspaces
from smartsupport.handoff.overflow import sweep_overflow
from smartsupport.visitor_tokens import issue_token
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir
from tests.helpdesk_fakes import FakeApis, open_test_services, zendesk_config


def api(services) -> httpx.AsyncClient:
    app = FastAPI()
    app.state.services = services
    _install_error_handlers(app)
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def setup(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        escalation = {
            "helpdesk": zendesk_config(fake),
            "overflow": {"wait_minutes": 5},
            "notify": {"slack": {"channel": "C0SUPPORT", "api_url": f"{fake.url}/api"}},
        }
        services = await open_test_services(
            tmp_path, sqlite_url, escalation, slack_bot_token="xoxb-test-789"
        )
        try:
            yield fake, services
        finally:
            await services.close()


async def test_contact_form_creates_a_ticket_and_says_what_happens_next(setup):
    fake, services = setup
    conv, _ = await start_conversation(services, "acme")
    token = issue_token(services.secret_key, conv.id)
    body = {
        "email": "mia@example.com",
        "name": "Mia",
        "question": "Can I change my delivery address? <b>",
    }
    async with api(services) as client:
        response = await client.post(
            f"/api/v1/conversations/{conv.id}/contact",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        again = await client.post(
            f"/api/v1/conversations/{conv.id}/contact",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.text
    data = response.json()
    question, confirmation = data["messages"]
    assert question["author"] == "customer" and question["text"].startswith("Can I change")
    assert confirmation["author"] == "bot"
    assert data["reference"] in confirmation["text"] and "mia@example.com" in confirmation["text"]
    assert again.status_code == 201  # a double submit is fine and makes no second ticket
    await outbox.run_due(services)
    [ticket] = fake.zendesk_tickets.values()
    [user] = fake.zendesk_users.values()
    assert user["email"] == "mia@example.com" and user["name"] == "Mia"
    assert ticket["subject"] == "Can I change my delivery address? <b>"
    assert "Question: Can I change my delivery address?" in ticket["description"]
    stored = await services.store.get_conversation(conv.id)
    assert stored.metadata["contact"]["email"] == "mia@example.com"


async def test_contact_form_refuses_bad_input(setup):
    fake, services = setup
    conv, _ = await start_conversation(services, "acme")
    other, _ = await start_conversation(services, "acme")
    url = f"/api/v1/conversations/{conv.id}/contact"
    good = {"email": "mia@example.com", "question": "hello"}
    auth = {"Authorization": f"Bearer {issue_token(services.secret_key, conv.id)}"}
    async with api(services) as client:
        bad_email = await client.post(url, json={**good, "email": "not-an-email"}, headers=auth)
        empty = await client.post(url, json={**good, "question": "   "}, headers=auth)
        no_token = await client.post(url, json=good)
        forged = await client.post(url, json=good, headers={"Authorization": "Bearer v1.x.y"})
        foreign = await client.post(
            url,
            json=good,
            headers={"Authorization": f"Bearer {issue_token(services.secret_key, other.id)}"},
        )
        extra = await client.post(url, json={**good, "admin": True}, headers=auth)
    assert bad_email.status_code == 422 and bad_email.json()["error"]["code"] == "invalid_email"
    assert empty.status_code == 422
    assert no_token.status_code == 401 and forged.status_code == 401 and foreign.status_code == 403
    assert extra.status_code == 422
    assert await outbox.list_entries(services.store) == []  # type: ignore[arg-type]


async def test_contact_form_without_a_helpdesk_reaches_the_inbox_queue(tmp_path, sqlite_url):
    """No helpdesk: the details land on the conversation, which joins the agents' queue
    (tests/test_handoff_landing.py has the rest)."""
    services = await open_test_services(tmp_path, sqlite_url, {})
    try:
        conv, _ = await start_conversation(services, "acme")
        async with api(services) as client:
            response = await client.post(
                f"/api/v1/conversations/{conv.id}/contact",
                json={"email": "a@example.com", "question": "hi"},
                headers={"Authorization": f"Bearer {issue_token(services.secret_key, conv.id)}"},
            )
        assert response.status_code == 201 and response.json()["ticket"] is False
        stored = await services.store.get_conversation(conv.id)
        assert stored.status is ConversationStatus.WAITING
    finally:
        await services.close()


async def test_overflow_offers_the_contact_form_once_after_the_wait(setup):
    fake, services = setup
    late, _ = await start_conversation(services, "acme")
    fresh, _ = await start_conversation(services, "acme")
    now = utcnow()
    for conv, minutes in ((late, 7), (fresh, 1)):
        await services.store.set_status(conv.id, ConversationStatus.WAITING)
        at = (now - timedelta(minutes=minutes)).isoformat()
        await services.store.update_conversation_metadata(conv.id, {"escalation": {"at": at}})
    assert await sweep_overflow(services, now=now) == 1
    assert await sweep_overflow(services, now=now + timedelta(minutes=1)) == 0
    last = (await services.store.list_messages(late.id))[-1]
    assert last.author is Author.BOT and last.meta == {"step": "overflow", "form": "contact"}
    assert "busy" in last.text
    assert (await services.store.list_messages(fresh.id))[-1].meta.get("step") == "greeting"
    assert (await services.store.get_conversation(late.id)).status is ConversationStatus.WAITING
    assert await sweep_overflow(services, now=now + timedelta(minutes=10)) == 1  # fresh


async def test_a_transfer_records_priority_and_reason_and_notifies_in_the_turn(setup):
    """The outcome's effects are data in the Decision; the turn's record writes the
    metadata and queues the notices in one transaction."""
    fake, services = setup
    conv, _ = await start_conversation(services, "acme")
    from smartsupport.handoff.rules import Firing, HandoffOutcome, apply
    from smartsupport.notify import handoff_notices
    from smartsupport.turn import Decision

    outcome = HandoffOutcome(
        firings=[Firing("legal", "keywords", "transfer", "sensitive topic: lawyer")],
        action="transfer",
        priority="urgent",
        offline=False,
        next_open=None,
        handoff_message="…",
    )
    decision = apply(outcome, Decision(), conv.metadata)
    assert decision.status is ConversationStatus.WAITING
    assert (await services.store.get_conversation(conv.id)).metadata.get("priority") is None
    notices = handoff_notices(
        services.workspace("acme"), conv.id, reason=outcome.reason, priority="urgent", key="m1"
    )
    assert [n.kind for n in notices] == ["notify.slack"]
    await services.store.record_turn(
        conv.id, [], status=decision.status, metadata=decision.metadata, outbox=notices
    )
    stored = await services.store.get_conversation(conv.id)
    assert stored.metadata["priority"] == "urgent"
    assert stored.metadata["escalation"]["reason"] == "sensitive topic: lawyer"
    assert stored.metadata["escalation"]["rules"] == ["legal"]
    await outbox.run_due(services)
    [message] = fake.slack_messages
    assert "urgent" in message["text"] or "urgent" in message["blocks"][0]["text"]["text"]


def test_the_bundled_demo_config_is_valid_and_always_staffed():
    demo = load_workspace_dir(DEMO_DIR)
    check_workspaces([demo])
    from tests.test_handoff_rules import Chat

    outcome = Chat(demo).say("Quiero hablar con una persona")
    assert outcome.action == "transfer" and not outcome.offline
