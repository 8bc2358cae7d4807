"""The queue and who is offered what: priority then waiting time, the customer's estimated
wait, round robin within capacity, and freed capacity going to the oldest waiting first."""

from __future__ import annotations

from smartsupport.inbox.assignment import refresh
from smartsupport.inbox.queue import estimate
from smartsupport.inbox.roster import mark_present
from smartsupport.inbox.store import InboxStore
from tests.inboxkit import Harness, inbox_app, queue


async def online(h: Harness, *agents) -> None:
    """Agents who set themselves online and have the inbox open."""
    for agent in agents:
        r = await agent.put("/api/v1/inbox/me/status", json={"status": "online"})
        assert r.status_code == 200, r.text
        await mark_present(h.services, agent.user_id)


async def offered_to(h: Harness, conversation_id: str) -> str | None:
    row = await InboxStore(h.services.store).row(conversation_id)
    return row["offered_to"] if row else None


async def test_queue_orders_by_priority_then_waiting_time(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        first = await h.customer_waiting("First")
        second = await h.customer_waiting("Second")
        urgent = await h.customer_waiting("Urgent")
        low = await h.customer_waiting("Low")
        # What escalation rules record on the conversation.
        store = h.services.store
        await store.update_conversation_metadata(
            urgent.id, {"priority": "urgent", "escalation": {"reason": "sensitive topic: fraud"}}
        )
        await store.update_conversation_metadata(low.id, {"priority": "low"})
        entries = (await queue(agent))["queue"]
        assert [e["conversation_id"] for e in entries] == [urgent.id, first.id, second.id, low.id]
        assert [e["position"] for e in entries] == [1, 2, 3, 4]
        assert [e["priority"] for e in entries] == ["urgent", "normal", "normal", "low"]
        # The reason recorded with the handoff wins over the rules' stored summary.
        assert entries[1]["reason"].startswith("customer asked for a")
        assert entries[1]["customer_name"] == "First"
        assert entries[1]["preview"] == "I want to talk to a person please"


async def test_customer_sees_place_and_estimated_wait(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        first = await h.customer_waiting()
        second = await h.customer_waiting()
        r = await second.client.get(f"/api/v1/conversations/{second.id}/queue", headers=second.auth)
        assert r.json() == {
            "status": "waiting_for_agent",
            "position": 2,
            "estimated_wait_minutes": None,  # nobody online: no promise
            "agents_online": 0,
        }
        admin = await h.staff("root@example.com", "admin")
        agent = await h.staff("ana@example.com")
        r = await admin.put(f"/api/v1/inbox/agents/{agent.user_id}", json={"capacity": 1})
        assert r.status_code == 200, r.text
        await online(h, agent)
        r = await first.client.get(f"/api/v1/conversations/{first.id}/queue", headers=first.auth)
        assert r.json()["estimated_wait_minutes"] == 1  # a free slot: about a minute
        r = await second.client.get(f"/api/v1/conversations/{second.id}/queue", headers=second.auth)
        assert r.json()["position"] == 2
        assert r.json()["estimated_wait_minutes"] == 5  # one ahead, default 5 min handling
        # Someone else's token gets nothing.
        r = await second.client.get(f"/api/v1/conversations/{first.id}/queue", headers=second.auth)
        assert r.status_code == 403


def test_estimate_shares_the_queue_among_online_agents() -> None:
    assert estimate(1, free_slots=0, agents_online=0, handle_seconds=300) is None
    assert estimate(2, free_slots=2, agents_online=2, handle_seconds=300) == 1
    assert estimate(5, free_slots=1, agents_online=2, handle_seconds=300) == 10
    assert estimate(3, free_slots=0, agents_online=3, handle_seconds=240) == 4


async def test_round_robin_offers_rotate_among_free_online_agents(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        ana = await h.staff("ana@example.com")
        bo = await h.staff("bo@example.com")
        away = await h.staff("cy@example.com")
        await online(h, ana, bo)
        await away.put("/api/v1/inbox/me/status", json={"status": "away"})
        served = []
        for _ in range(4):
            visitor = await h.customer_waiting()
            # A status change reaches the inboxes over pub/sub; agents' sockets then run
            # dispatch. Here nobody has a socket open, so run what they would.
            await refresh(h.services, "demo")
            holder = await offered_to(h, visitor.id)
            served.append(holder)
            client = ana if holder == ana.user_id else bo
            r = await client.post(f"/api/v1/inbox/conversations/{visitor.id}/claim")
            assert r.status_code == 200, r.text
        assert served == [ana.user_id, bo.user_id, ana.user_id, bo.user_id]
        assert away.user_id not in served


async def test_a_declined_offer_goes_to_the_next_agent(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        ana = await h.staff("ana@example.com")
        bo = await h.staff("bo@example.com")
        await online(h, ana, bo)
        visitor = await h.customer_waiting()
        await refresh(h.services, "demo")
        first = await offered_to(h, visitor.id)
        decliner, other = (ana, bo) if first == ana.user_id else (bo, ana)
        r = await other.post(f"/api/v1/inbox/conversations/{visitor.id}/decline")
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_offered"
        r = await decliner.post(f"/api/v1/inbox/conversations/{visitor.id}/decline")
        assert r.status_code == 200
        assert await offered_to(h, visitor.id) == other.user_id


async def test_capacity_caps_claims_and_freed_capacity_offers_the_oldest_first(
    sqlite_url, tmp_path
) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        admin = await h.staff("root@example.com", "admin")
        agent = await h.staff("ana@example.com")
        r = await admin.put(f"/api/v1/inbox/agents/{agent.user_id}", json={"capacity": 1})
        assert r.json()["capacity"] == 1
        await online(h, agent)
        held = await h.customer_waiting("Held")
        oldest = await h.customer_waiting("Oldest")
        newer = await h.customer_waiting("Newer")
        r = await agent.post(f"/api/v1/inbox/conversations/{held.id}/claim")
        assert r.status_code == 200
        r = await agent.post(f"/api/v1/inbox/conversations/{newer.id}/claim")
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "at_capacity"
        me = (await queue(agent))["me"]
        assert (me["load"], me["capacity"]) == (1, 1)
        # Full: nothing is offered to the agent.
        assert await offered_to(h, oldest.id) is None
        assert await offered_to(h, newer.id) is None
        r = await agent.post(f"/api/v1/inbox/conversations/{held.id}/resolve")
        assert r.status_code == 200
        assert await offered_to(h, oldest.id) == agent.user_id
        assert await offered_to(h, newer.id) is None
