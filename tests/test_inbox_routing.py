"""Routing by skill and language, response-time SLAs, and presence at sign-in (issue 16,
item 5): a waiting conversation is offered only to an available agent with the skill its
intent needs and the customer's language, within capacity; an agent without them cannot
claim it (a supervisor can), nor be transferred it; the queue shows SLA clocks and counts
breaches; an agent starts each sign-in online, and keeps a status they chose."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from smartsupport.domain import utcnow
from smartsupport.handoff.config import Sla
from smartsupport.inbox.assignment import refresh
from smartsupport.inbox.roster import mark_present
from smartsupport.inbox.routing import clock
from smartsupport.inbox.store import InboxStore
from tests.inboxkit import PASSWORD, StaffClient, inbox_app, queue

ESCALATION = {
    "rules": [{"name": "person", "type": "human_request", "action": "transfer"}],
    "routing": {
        # asking for a person is the intent here: it needs the "care" skill
        "skills": {"human_agent": "care"},
        "teams": {"emea": {"skills": ["care"], "languages": ["de", "fr"]}},
        "sla": {"first_response_seconds": 60, "next_response_seconds": 30},
    },
}


@pytest.fixture
def workspaces(tmp_path):
    root = tmp_path / "workspaces"
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "workspace.yaml").write_text(
        yaml.safe_dump({"id": "demo", "name": "Shop", "default_locale": "en"}), encoding="utf-8"
    )
    (root / "demo" / "escalation.yaml").write_text(yaml.safe_dump(ESCALATION), encoding="utf-8")
    return root


def test_sla_clock_warns_then_breaches():
    sla = Sla(first_response_seconds=100, next_response_seconds=50, warn_ratio=0.8)
    start = utcnow()
    assert clock(sla, "first_response", start, start + timedelta(seconds=10)).state == "ok"
    assert clock(sla, "first_response", start, start + timedelta(seconds=85)).state == "warning"
    late = clock(sla, "next_response", start, start + timedelta(seconds=51))
    assert late.state == "breached" and late.due_at == start + timedelta(seconds=50)


async def test_offers_go_to_the_agent_with_the_skill_and_the_language(
    sqlite_url, tmp_path, workspaces
):
    async with inbox_app(sqlite_url, data_dir=tmp_path, workspaces_dir=workspaces, demo=False) as h:
        admin = await h.staff("root@example.com", "admin")
        ana = await h.staff("ana@example.com")  # no skill
        bo = await h.staff("bo@example.com")  # care, English only
        cy = await h.staff("cy@example.com")  # the emea team: care, German and French
        boss = await h.staff("boss@example.com", "supervisor")
        await admin.put(
            f"/api/v1/inbox/agents/{bo.user_id}", json={"skills": ["care"], "languages": ["en"]}
        )
        r = await admin.put(f"/api/v1/inbox/agents/{cy.user_id}", json={"teams": ["emea"]})
        assert r.status_code == 200, r.text
        for agent in (ana, bo, cy):
            await agent.put("/api/v1/inbox/me/status", json={"status": "online"})
            await mark_present(h.services, agent.user_id)

        english = await h.customer_waiting("Ada", locale="en")
        german = await h.visitor("Jonas", locale="de-AT")
        turn = await german.say("Ich möchte bitte mit einem Mitarbeiter sprechen")
        assert turn["status"] == "waiting_for_agent", turn
        await refresh(h.services, "demo")
        rows = await InboxStore(h.services.store).rows([english.id, german.id])
        assert rows[english.id]["offered_to"] == bo.user_id
        assert rows[german.id]["offered_to"] == cy.user_id
        [entry] = [e for e in (await queue(ana))["queue"] if e["conversation_id"] == german.id]
        assert (entry["skill"], entry["language"]) == ("care", "de")

        refused = await ana.post(f"/api/v1/inbox/conversations/{english.id}/claim")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "missing_skill"
        assert "care" in refused.json()["error"]["message"]
        wrong_language = await bo.post(f"/api/v1/inbox/conversations/{german.id}/claim")
        assert wrong_language.status_code == 409
        assert "(de)" in wrong_language.json()["error"]["message"]
        assert (await bo.post(f"/api/v1/inbox/conversations/{english.id}/claim")).status_code == 200
        to_ana = await bo.post(
            f"/api/v1/inbox/conversations/{english.id}/transfer", json={"agent_id": ana.user_id}
        )
        assert to_ana.status_code == 409 and to_ana.json()["error"]["code"] == "missing_skill"
        taken = await boss.post(f"/api/v1/inbox/conversations/{german.id}/claim")
        assert taken.status_code == 200  # a supervisor may take anything


async def test_the_queue_shows_sla_clocks_and_counts_breaches(sqlite_url, tmp_path, workspaces):
    async with inbox_app(sqlite_url, data_dir=tmp_path, workspaces_dir=workspaces, demo=False) as h:
        boss = await h.staff("boss@example.com", "supervisor")
        fresh = await h.customer_waiting("Ada")
        late = await h.customer_waiting("Bea")
        await h.services.store.execute(  # Bea started waiting two minutes ago
            "UPDATE events SET created_at = ? WHERE conversation_id = ? "
            "AND type = 'conversation.status'",
            utcnow() - timedelta(minutes=2),
            late.id,
        )
        body = await queue(boss)
        states = {e["conversation_id"]: e["sla"]["state"] for e in body["queue"]}
        assert states == {fresh.id: "ok", late.id: "breached"}
        assert body["sla_breaches"] == 1
        await boss.post(f"/api/v1/inbox/conversations/{fresh.id}/claim")
        await h.services.store.execute(  # the customer's last message, 40 s unanswered
            "UPDATE messages SET created_at = ? WHERE conversation_id = ? AND author = 'customer'",
            utcnow() - timedelta(seconds=40),
            fresh.id,
        )
        await fresh.say("hello? anyone?")
        body = await queue(boss)
        [mine] = body["mine"]
        assert mine["sla"]["kind"] == "next_response" and mine["sla"]["state"] == "ok"
        await boss.post(f"/api/v1/inbox/conversations/{fresh.id}/messages", json={"text": "Hi!"})
        assert (await queue(boss))["mine"][0]["sla"] is None  # answered: no clock


async def test_agents_start_each_sign_in_online_and_keep_a_chosen_status(sqlite_url, tmp_path):
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        ana = await h.staff("ana@example.com")
        inbox = InboxStore(h.services.store)
        assert (await inbox.agent(ana.user_id)).status == "offline"
        assert (await ana.get("/inbox")).status_code == 200
        assert (await inbox.agent(ana.user_id)).status == "online"
        await ana.put("/api/v1/inbox/me/status", json={"status": "away"})
        await ana.get("/inbox")
        assert (await inbox.agent(ana.user_id)).status == "away"  # her choice stands
        again = h.client(StaffClient)  # Ana signs in again (another session)
        await again.get("/inbox/login")
        signed = await again.post(
            "/inbox/login", json={"email": "ana@example.com", "password": PASSWORD}
        )
        assert signed.status_code == 200, signed.text
        await again.get("/inbox")
        assert (await inbox.agent(ana.user_id)).status == "online"  # a new sign-in


async def test_the_status_at_sign_in_is_configurable(sqlite_url, tmp_path):
    async with inbox_app(sqlite_url, data_dir=tmp_path, agent_status_at_sign_in="away") as h:
        ana = await h.staff("ana@example.com")
        await ana.get("/inbox")
        assert (await InboxStore(h.services.store).agent(ana.user_id)).status == "away"
