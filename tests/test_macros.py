"""Macros (inbox/macros.py, macro_runs.py, macro_api.py) through the staff API, on SQLite and
PostgreSQL, against the demo shop's real HTTP API (the demo workspace's flows.yaml actions):
a refund macro runs once however often it is sent, replies with the refund's real amount,
tags and resolves; an agent without the role is refused and nothing happens; an action that
fails half-way leaves nothing half-done (no reply, no tags, no status change) and tells the
agent what failed; a later step that fails stops the run as partial; definitions are
validated step by step and every change and run is in the audit log."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from smartsupport import audit
from smartsupport.demo_shop import create_shop_app, load_shop
from smartsupport.workspaces import DEMO_DIR
from tests.inboxkit import Harness, inbox_app

REFUND = {
    "workspace": "demo",
    "name": "refund",
    "title": "Refund the order",
    "role": "supervisor",
    "action": {"name": "refund_order"},
    "reply": "Hi {customer_name}, order {order_id} is refunded: {action.amount} "
    "{action.currency} to your {action.method}.",
    "tags": ["Refund"],
    "status": "resolved",
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def harness(request, tmp_path, sqlite_url, postgres_url) -> Any:
    url = sqlite_url if request.param == "sqlite" else postgres_url
    async with inbox_app(url, data_dir=tmp_path) as h:
        yield h


def shop_order(h: Harness, order_id: str) -> dict[str, Any]:
    return h.app.state.shops.get(DEMO_DIR / "shop.json").orders[order_id]


async def held_conversation(h: Harness, holder: Any, order_id: str, email: str) -> Any:
    visitor = await h.customer_waiting("Maria", email=email)
    await visitor.say(f"It is about my order {order_id}")
    r = await holder.post(f"/api/v1/inbox/conversations/{visitor.id}/claim")
    assert r.status_code == 200, r.text
    return visitor


async def create(admin: Any, **changes: Any) -> dict[str, Any]:
    r = await admin.post("/api/v1/inbox/macros", json={**REFUND, **changes})
    assert r.status_code == 201, r.text
    return r.json()


def agent_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if m["author"] == "agent"]


async def test_a_refund_macro_runs_once_replies_tags_and_resolves(harness: Harness) -> None:
    h = harness
    admin = await h.staff("ada@example.com", "admin")
    boss = await h.staff("sam@example.com", "supervisor")
    macro = await create(admin)
    assert macro["tags"] == ["refund"]  # normalised like any tag
    visitor = await held_conversation(h, boss, "ORD-10238", "maria@example.com")
    base = f"/api/v1/inbox/conversations/{visitor.id}/macros"

    listed = (await boss.get(base)).json()["macros"]
    assert [m["name"] for m in listed] == ["refund"]
    plan = listed[0]
    assert plan["allowed"] and plan["confirm"] and plan["order_id"] == "ORD-10238"
    assert plan["steps"][0] == "Call the business action refund_order for order ORD-10238"
    assert plan["steps"][1].startswith("Reply to the customer: Hi Maria, order ORD-10238")

    # A business action never runs unconfirmed.
    r = await boss.post(f"{base}/{macro['id']}/runs", json={"run_id": "r1"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "confirmation_required"
    assert shop_order(h, "ORD-10238").get("refund") is None

    # A double click: the same run id twice at once runs the macro once.
    body = {"run_id": "click-1", "confirm": True}
    first, second = await asyncio.gather(
        boss.post(f"{base}/{macro['id']}/runs", json=body),
        boss.post(f"{base}/{macro['id']}/runs", json=body),
    )
    outcomes = sorted([first, second], key=lambda r: r.status_code)
    assert [r.status_code for r in outcomes] == [200, 201], [r.text for r in outcomes]
    done = outcomes[1].json()
    assert done["state"] == "done" and not done["replayed"]
    assert [s["step"] for s in done["steps"]] == ["action", "reply", "tags", "status"]
    assert outcomes[0].json()["replayed"]
    again = await boss.post(f"{base}/{macro['id']}/runs", json=body)  # a late retry
    assert again.status_code == 200 and again.json()["state"] == "done"

    refund = shop_order(h, "ORD-10238")["refund"]
    assert refund["status"] == "issued" and refund["amount"] == 149.0
    texts = agent_texts(await visitor.messages())
    assert texts == ["Hi Maria, order ORD-10238 is refunded: 149.0 USD to your original payment."]
    conversation = (await boss.get(f"/api/v1/inbox/conversations/{visitor.id}")).json()
    assert conversation["status"] == "resolved"
    tags = await boss.post(f"/api/v1/inbox/conversations/{visitor.id}/tags", json={"tags": ["x"]})
    assert "refund" in tags.json()["tags"]

    runs = await audit.entries(h.services.store, action="macro.run")
    assert len(runs) == 1
    entry = runs[0]
    assert entry.actor == f"staff:{boss.user_id}" and entry.target == f"conversation:{visitor.id}"
    assert entry.details["state"] == "done" and entry.details["name"] == "refund"
    assert entry.details["steps"][0]["outcome"] == "ok"
    assert "Maria" not in str(entry.details)  # ids and outcomes, never the customer's data
    assert [e.action for e in await audit.entries(h.services.store, action="macro.created")] == [
        "macro.created"
    ]
    assert (await audit.verify(h.services.store)).ok


async def test_an_agent_without_the_role_is_refused_and_nothing_happens(
    harness: Harness,
) -> None:
    h = harness
    admin = await h.staff("ada@example.com", "admin")
    agent = await h.staff("ana@example.com", "agent")
    macro = await create(admin)
    visitor = await held_conversation(h, agent, "ORD-10238", "maria@example.com")
    listed = (await agent.get(f"/api/v1/inbox/conversations/{visitor.id}/macros")).json()
    assert listed["macros"][0]["allowed"] is False
    r = await agent.post(
        f"/api/v1/inbox/conversations/{visitor.id}/macros/{macro['id']}/runs",
        json={"run_id": "nope", "confirm": True},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"
    assert "supervisor" in r.json()["error"]["message"]
    assert shop_order(h, "ORD-10238").get("refund") is None
    assert agent_texts(await visitor.messages()) == []
    refused = await audit.entries(h.services.store, action="macro.refused")
    assert [e.actor for e in refused] == [f"staff:{agent.user_id}"]
    # Nor may an agent write macros: admins decide which business actions agents trigger.
    r = await agent.post("/api/v1/inbox/macros", json={**REFUND, "name": "mine"})
    assert r.status_code == 403


async def test_an_action_that_fails_leaves_nothing_half_done(harness: Harness) -> None:
    """ORD-10234 has shipped but not arrived: the shop refuses the refund (409). The customer
    is told nothing, no tag, no status change; the agent sees what failed, so does the team."""
    h = harness
    admin = await h.staff("ada@example.com", "admin")
    boss = await h.staff("sam@example.com", "supervisor")
    macro = await create(admin)
    visitor = await held_conversation(h, boss, "ORD-10234", "maria@example.com")
    url = f"/api/v1/inbox/conversations/{visitor.id}/macros/{macro['id']}/runs"
    r = await boss.post(url, json={"run_id": "fails", "confirm": True})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["state"] == "failed"
    assert out["steps"] == [
        {
            "step": "action",
            "action": "refund_order",
            "order_id": "ORD-10234",
            "outcome": "not_refundable",
            "status": 409,
            "attempts": 1,
            "ms": out["steps"][0]["ms"],
            "ok": False,
        }
    ]
    assert out["message"].startswith("Nothing was done: the action step failed (not_refundable)")
    assert agent_texts(await visitor.messages()) == []
    state = (await boss.get(f"/api/v1/inbox/conversations/{visitor.id}")).json()
    assert state["status"] == "with_agent"
    assert "Macro 'Refund the order' failed" in state["notes"][0]["text"]
    tags = await boss.delete(f"/api/v1/inbox/conversations/{visitor.id}/tags/none")
    assert tags.json()["tags"] == []
    assert shop_order(h, "ORD-10234").get("refund") is None
    entry = (await audit.entries(h.services.store, action="macro.run"))[0]
    assert entry.details["state"] == "failed"
    # Retrying the same run answers the same failure; a new run id tries again (and fails).
    replay = await boss.post(url, json={"run_id": "fails", "confirm": True})
    assert replay.status_code == 200 and replay.json()["state"] == "failed"


async def test_a_step_after_the_action_that_fails_stops_the_run_as_partial(
    harness: Harness,
) -> None:
    h = harness
    admin = await h.staff("ada@example.com", "admin")
    boss = await h.staff("sam@example.com", "supervisor")
    # The shop's answer has no "voucher": the reply would promise what is not there.
    macro = await create(admin, name="voucher", reply="Your voucher: {action.voucher}")
    visitor = await held_conversation(h, boss, "ORD-10238", "maria@example.com")
    r = await boss.post(
        f"/api/v1/inbox/conversations/{visitor.id}/macros/{macro['id']}/runs",
        json={"run_id": "p1", "confirm": True},
    )
    out = r.json()
    assert out["state"] == "partial", out
    assert [(s["step"], s["ok"]) for s in out["steps"]] == [("action", True), ("reply", False)]
    assert "action.voucher" in out["message"] and "finish it by hand" in out["message"]
    assert shop_order(h, "ORD-10238")["refund"]["status"] == "issued"  # done, not undone
    assert agent_texts(await visitor.messages()) == []
    state = (await boss.get(f"/api/v1/inbox/conversations/{visitor.id}")).json()
    assert state["status"] == "with_agent"  # the status step did not run


async def test_macros_are_checked_step_by_step_and_edited_by_admins(harness: Harness) -> None:
    h = harness
    admin = await h.staff("ada@example.com", "admin")
    cases = [
        ({"action": {"name": "wire_money"}}, "unknown_action"),
        ({"action": None, "reply": "Total {action.total}"}, "unknown_placeholder"),
        ({"reply": "Hi {nickname}"}, "unknown_placeholder"),
        ({"action": None, "reply": "", "tags": [], "status": "keep"}, "empty_macro"),
        ({"tags": ["<b>"]}, "invalid_tag"),
        ({"name": "Not A Shortcut!"}, "invalid_input"),
        ({"role": "owner"}, "invalid_input"),
    ]
    for change, code in cases:
        r = await admin.post("/api/v1/inbox/macros", json={**REFUND, **change})
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (change, r.text)
    macro = await create(admin, name="thanks", action=None, reply="Thanks, {customer_name}!")
    again = await admin.post("/api/v1/inbox/macros", json={**REFUND, "name": "thanks"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "name_taken"
    r = await admin.put(
        f"/api/v1/inbox/macros/{macro['id']}",
        json={**REFUND, "name": "thanks", "action": None, "reply": "Thank you!", "tags": []},
    )
    assert r.status_code == 200 and r.json()["reply"] == "Thank you!"
    listed = (await admin.get("/api/v1/inbox/macros")).json()["macros"]
    assert [m["reply"] for m in listed] == ["Thank you!"]
    assert (await admin.delete(f"/api/v1/inbox/macros/{macro['id']}")).status_code == 204
    assert (await admin.get("/api/v1/inbox/macros")).json()["macros"] == []
    actions = [e.action for e in await audit.entries(h.services.store)]
    assert [a for a in actions if a.startswith("macro.")] == [
        "macro.created",
        "macro.updated",
        "macro.deleted",
    ]


async def test_a_macro_without_an_action_runs_at_once_and_refuses_what_it_cannot_fill(
    harness: Harness,
) -> None:
    h = harness
    admin = await h.staff("ada@example.com", "admin")
    agent = await h.staff("ana@example.com", "agent")
    thanks = await create(
        admin, name="thanks", role="agent", action=None, reply="Thanks {customer_name}!"
    )
    needs_order = await create(admin, name="refund", role="agent", reply="", status="keep")
    visitor = await h.customer_waiting(None)  # no name, no order mentioned
    base = f"/api/v1/inbox/conversations/{visitor.id}/macros"
    r = await agent.post(f"{base}/{thanks['id']}/runs", json={"run_id": "a"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "missing_placeholder"
    r = await agent.post(f"{base}/{needs_order['id']}/runs", json={"run_id": "b", "confirm": True})
    assert r.status_code == 409 and r.json()["error"]["code"] == "missing_order"
    assert agent_texts(await visitor.messages()) == []
    named = await h.customer_waiting("Lea")
    r = await agent.post(
        f"/api/v1/inbox/conversations/{named.id}/macros/{thanks['id']}/runs", json={"run_id": "c"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_holder"  # claim first
    await agent.post(f"/api/v1/inbox/conversations/{named.id}/claim")
    r = await agent.post(
        f"/api/v1/inbox/conversations/{named.id}/macros/{thanks['id']}/runs", json={"run_id": "c"}
    )
    assert r.status_code == 201 and r.json()["state"] == "done"
    assert agent_texts(await named.messages()) == ["Thanks Lea!"]
    r = await agent.post(
        f"/api/v1/inbox/conversations/{named.id}/macros/{thanks['id']}/runs",
        json={"run_id": "bad id!"},
    )
    assert r.status_code == 422


async def test_the_demo_shop_refunds_once_per_key_and_resends_labels() -> None:
    """The demo shop's refund and label endpoints the demo macros call."""
    shop = load_shop(DEMO_DIR / "shop.json")
    transport = httpx.ASGITransport(app=create_shop_app(shop))
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        who = {"email": "maria@example.com"}
        url = "/orders/ORD-10238/refund"
        first = await client.post(url, json={**who, "idempotency_key": "k1"})
        again = await client.post(url, json={**who, "idempotency_key": "k1"})
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json() and first.json()["amount"] == 149.0
        other = await client.post(url, json={**who, "idempotency_key": "k2"})
        assert other.status_code == 409  # refunded already: a new key refunds nothing
        shipped = await client.post("/orders/ORD-10234/refund", json=who)
        assert shipped.status_code == 409 and shipped.json()["error"].startswith("order is shipped")
        assert (await client.post("/orders/ORD-10238/label", json=who)).status_code == 409
        jonas = {"email": "jonas@example.com"}
        label = await client.post("/orders/ORD-10240/label", json=jonas)
        assert label.status_code == 200 and label.json()["return_id"] == "RET-50001"
        assert (await client.post("/orders/ORD-10240/label", json=who)).status_code == 404
