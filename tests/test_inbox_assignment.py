"""Claims, transfers, and who may see and do what: roles, workspaces and CSRF."""

from __future__ import annotations

import asyncio

from smartsupport.inbox.assignment import refresh
from smartsupport.inbox.roster import mark_present
from smartsupport.inbox.store import InboxStore
from tests.inboxkit import inbox_app, queue


async def test_two_agents_claiming_at_once_exactly_one_wins(sqlite_url, tmp_path) -> None:
    await claim_race(sqlite_url, "", tmp_path)


async def test_claim_race_with_postgres_and_a_redis_lock(postgres_url, redis_url, tmp_path) -> None:
    """Scaled out: the claim lock is a Redis lock every server process shares."""
    await claim_race(postgres_url, redis_url, tmp_path)


async def claim_race(database_url: str, redis_url: str, tmp_path) -> None:
    async with inbox_app(database_url, redis_url, data_dir=tmp_path) as h:
        ana = await h.staff("ana@example.com")
        bo = await h.staff("bo@example.com")
        for _ in range(3):
            visitor = await h.customer_waiting()
            url = f"/api/v1/inbox/conversations/{visitor.id}/claim"
            results = await asyncio.gather(ana.post(url), bo.post(url))
            assert sorted(r.status_code for r in results) == [200, 409]
            loser = next(r for r in results if r.status_code == 409)
            assert loser.json()["error"]["code"] == "already_claimed"
            winner = ana if results[0].status_code == 200 else bo
            row = await InboxStore(h.services.store).row(visitor.id)
            assert row is not None and row["agent_id"] == winner.user_id
            joined = [m for m in await visitor.messages() if m["author"] == "system"]
            assert [m["text"] for m in joined] == [f"{winner.name} joined the conversation."]


async def test_claims_on_resolved_conversations_are_refused(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting()
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        assert (await agent.post(base + "/claim")).status_code == 200
        assert (await agent.post(base + "/claim")).status_code == 200  # a double click
        assert (await agent.post(base + "/resolve")).status_code == 200
        r = await agent.post(base + "/claim")
        assert r.status_code == 409 and r.json()["error"]["code"] == "conversation_closed"
        r = await agent.post("/api/v1/inbox/conversations/nope/claim")
        assert r.status_code == 404


async def test_transfer_to_an_agent_and_to_a_team(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        admin = await h.staff("root@example.com", "admin")
        ana = await h.staff("ana@example.com")
        bo = await h.staff("bo@example.com")
        cy = await h.staff("cy@example.com")
        boss = await h.staff("boss@example.com", "supervisor")
        await admin.put(f"/api/v1/inbox/agents/{bo.user_id}", json={"capacity": 1})
        await admin.put(f"/api/v1/inbox/agents/{cy.user_id}", json={"teams": ["billing"]})
        visitor = await h.customer_waiting()
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        await ana.post(base + "/claim")

        r = await bo.post(base + "/transfer", json={"agent_id": cy.user_id})
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_holder"
        r = await ana.post(base + "/transfer", json={"agent_id": bo.user_id})
        assert r.status_code == 200 and r.json()["status"] == "with_agent"
        assert (await queue(bo))["mine"][0]["conversation_id"] == visitor.id
        assert (await queue(ana))["mine"] == []
        # Bo is now full (capacity 1): a second transfer to Bo is refused.
        other = await h.customer_waiting()
        await ana.post(f"/api/v1/inbox/conversations/{other.id}/claim")
        r = await ana.post(
            f"/api/v1/inbox/conversations/{other.id}/transfer", json={"agent_id": bo.user_id}
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "at_capacity"

        r = await bo.post(base + "/transfer", json={"team": "nobody"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_team"
        r = await bo.post(base + "/transfer", json={"team": "billing"})
        assert r.status_code == 200 and r.json()["status"] == "waiting_for_agent"
        # The team's member sees it; others do not; supervisors see everything.
        assert visitor.id in [e["conversation_id"] for e in (await queue(cy))["queue"]]
        assert visitor.id not in [e["conversation_id"] for e in (await queue(ana))["queue"]]
        entry = next(e for e in (await queue(boss))["queue"] if e["conversation_id"] == visitor.id)
        assert entry["team"] == "billing"
        assert entry["reason"] == "transferred to the billing team by Bo"
        # Round robin offers it only to the team.
        for agent in (ana, cy):
            await agent.put("/api/v1/inbox/me/status", json={"status": "online"})
            await mark_present(h.services, agent.user_id)
        await refresh(h.services, "demo")
        row = await InboxStore(h.services.store).row(visitor.id)
        assert row is not None and row["offered_to"] == cy.user_id
        r = await ana.post(base + "/transfer", json={"agent_id": cy.user_id, "team": "billing"})
        assert r.status_code == 422


async def test_roles_guard_pages_and_endpoints(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        boss = await h.staff("boss@example.com", "supervisor")
        admin = await h.staff("root@example.com", "admin")
        stranger = h.client()
        r = await stranger.get("/inbox")
        assert r.status_code == 303 and r.headers["location"] == "/inbox/login?next=/inbox"
        r = await stranger.get("/api/v1/inbox/queue")
        assert r.status_code == 401
        pages = {"/inbox": "agent", "/inbox/team": "supervisor", "/inbox/admin": "admin"}
        for client, rank in ((agent, 0), (boss, 1), (admin, 2)):
            for i, path in enumerate(pages):
                r = await client.get(path)
                assert r.status_code == (200 if i <= rank else 403), (path, rank)
                if r.status_code == 403:
                    assert f"needs the {pages[path]} role" in r.text
        canned = {"shortcut": "hi", "title": "Hello", "body": "Hi {customer_name}!"}
        r = await agent.post("/api/v1/inbox/canned", json=canned)
        assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"
        assert (await boss.post("/api/v1/inbox/canned", json=canned)).status_code == 201
        r = await boss.put(f"/api/v1/inbox/agents/{agent.user_id}", json={"capacity": 9})
        assert r.status_code == 403
        r = await admin.put(f"/api/v1/inbox/agents/{agent.user_id}", json={"capacity": 9})
        assert r.status_code == 200


async def test_another_workspace_is_forbidden(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        outsider = await h.staff("out@example.com", "admin", workspaces=["other"])
        visitor = await h.customer_waiting()
        assert (await queue(outsider))["queue"] == []
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        calls = [
            outsider.get(base),
            outsider.post(base + "/claim"),
            outsider.post(base + "/messages", json={"text": "hi"}),
            outsider.get(base + "/notes"),
            outsider.post(base + "/notes", json={"text": "peek"}),
            outsider.get(base + "/canned"),
            outsider.post(base + "/resolve"),
            outsider.post(base + "/priority", json={"priority": "high"}),
            outsider.get(f"/inbox/fragments/conversations/{visitor.id}/context"),
        ]
        for response in await asyncio.gather(*calls):
            assert response.status_code == 403, response.request.url
        r = await outsider.get(f"/inbox/conversations/{visitor.id}")
        assert r.status_code == 403 and visitor.id not in r.text


async def test_unsafe_calls_need_the_csrf_token(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting()
        r = await agent.post(
            f"/api/v1/inbox/conversations/{visitor.id}/claim", headers={"X-CSRF-Token": "forged"}
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        row = await InboxStore(h.services.store).row(visitor.id)
        assert row is None or row["agent_id"] is None
