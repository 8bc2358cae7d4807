"""What agents write and read: canned responses with placeholders (script shown, never run),
private notes the customer never sees, the context panel, and the customer's CSAT rating."""

from __future__ import annotations

import asyncio

from smartsupport.errors import BackendError
from smartsupport.wire import conversation_channel
from tests.inboxkit import inbox_app

SCRIPT = "<script>alert(1)</script>"


async def test_canned_placeholders_are_filled_and_script_is_escaped(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        boss = await h.staff("boss@example.com", "supervisor")
        agent = await h.staff("ana@example.com")
        body = f"Hi {{customer_name}}, order {{order_id}} ships today. {SCRIPT} -- {{agent_name}}"
        r = await boss.post(
            "/api/v1/inbox/canned", json={"shortcut": "shipped", "title": "Shipped", "body": body}
        )
        assert r.status_code == 201, r.text
        r = await boss.post(
            "/api/v1/inbox/canned", json={"shortcut": "shipped", "title": "Again", "body": "x"}
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "shortcut_taken"
        r = await boss.post(
            "/api/v1/inbox/canned", json={"shortcut": "bad", "title": "Bad", "body": "{password}"}
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_placeholder"

        visitor = await h.customer_waiting("Grace <b>Hopper</b>")
        await visitor.say("It is about ord-10234")
        r = await agent.get(f"/api/v1/inbox/conversations/{visitor.id}/canned")
        [item] = r.json()["canned"]
        assert item["text"] == (
            f"Hi Grace <b>Hopper</b>, order ORD-10234 ships today. {SCRIPT} -- Ana"
        )
        assert item["missing"] == []
        # Nobody mentioned an order here: the placeholder stays and is reported.
        other = await h.customer_waiting(None)
        r = await agent.get(f"/api/v1/inbox/conversations/{other.id}/canned")
        assert r.json()["canned"][0]["missing"] == ["customer_name", "order_id"]
        # The team page shows the text, escaped; no script element comes from it.
        page = (await boss.get("/inbox/team")).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert SCRIPT not in page
        # The inbox page escapes the customer's name too.
        page = (await agent.get(f"/inbox/conversations/{visitor.id}")).text
        assert "Grace &lt;b&gt;Hopper&lt;/b&gt;" in page and "<b>Hopper</b>" not in page
        assert "script-src 'self'" in (await agent.get("/inbox")).headers["content-security-policy"]


async def test_private_notes_never_reach_the_customer(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting()
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        subscription = await h.services.backplane.subscribe(conversation_channel(visitor.id))
        secret = "Customer was rude last week; refund already denied"
        r = await agent.post(base + "/notes", json={"text": secret})
        assert r.status_code == 201 and r.json()["author"] == "Ana"
        r = await agent.post(base + "/notes", json={"text": "x" * 2001})
        assert r.status_code == 422 and r.json()["error"]["code"] == "note_too_long"
        r = await agent.post(base + "/notes", json={"text": "   "})
        assert r.status_code == 422
        assert [n["text"] for n in (await agent.get(base + "/notes")).json()["notes"]] == [secret]
        assert [n["text"] for n in (await agent.get(base)).json()["notes"]] == [secret]
        # Nothing was published to the customer, and no customer endpoint returns it.
        await h.services.backplane.publish(conversation_channel(visitor.id), {"type": "marker"})
        first = await asyncio.wait_for(subscription.__aiter__().__anext__(), 5)
        await subscription.close()
        assert first == {"type": "marker"}
        for path in ("/messages", "", "/csat", "/queue"):
            r = await visitor.client.get(
                f"/api/v1/conversations/{visitor.id}{path}", headers=visitor.auth
            )
            assert r.status_code == 200 and "refund already denied" not in r.text


async def test_context_panel_shows_customer_understanding_and_reason(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting(
            "Grace", email="grace@example.com", segment="vip", metadata={"plan": "gold"}
        )
        await visitor.say("Where is my order ORD-10234?")
        detail = (await agent.get(f"/api/v1/inbox/conversations/{visitor.id}")).json()
        assert detail["customer"]["email"] == "grace@example.com"
        assert detail["customer"]["metadata"] == {"plan": "gold"}
        assert detail["reason"].startswith("customer asked for a")
        assert detail["nlu"]["intent"] == "order_status"
        assert [m["author"] for m in detail["messages"]][:3] == ["bot", "customer", "bot"]
        assert detail["messages"][1]["intent"] == "human_agent"
        # Help articles for the customer's last question, from the assistant's knowledge base.
        assert detail["suggestions"]["available"] is True
        titles = [p["title"] for p in detail["suggestions"]["passages"]]
        assert "Tracking your order" in titles
        html = (await agent.get(f"/inbox/fragments/conversations/{visitor.id}/context")).text
        assert detail["reason"] in html and "gold" in html


async def test_csat_after_resolution_is_validated_and_stored(sqlite_url, tmp_path) -> None:
    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting()
        url = f"/api/v1/conversations/{visitor.id}/csat"
        r = await visitor.client.post(url, json={"rating": 5}, headers=visitor.auth)
        assert r.status_code == 409 and r.json()["error"]["code"] == "csat_not_requested"
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        await agent.post(base + "/claim")
        subscription = await h.services.backplane.subscribe(conversation_channel(visitor.id))
        await agent.post(base + "/resolve")
        kinds = []
        async for event in subscription:
            kinds.append(event["type"])
            if event["type"] == "csat":
                break
        await subscription.close()
        assert kinds == ["status", "message", "csat"]
        assert (await visitor.client.get(url, headers=visitor.auth)).json()["due"] is True
        for bad in (0, 6, 4.5, "5", None, True):
            r = await visitor.client.post(url, json={"rating": bad}, headers=visitor.auth)
            assert r.status_code == 422, bad
        r = await visitor.client.post(
            url, json={"rating": 4, "comment": "c" * 1001}, headers=visitor.auth
        )
        assert r.status_code == 422
        r = await visitor.client.post(
            url, json={"rating": 4}, headers={"Authorization": "Bearer v1.x.y"}
        )
        assert r.status_code == 401
        r = await visitor.client.post(
            url, json={"rating": 4, "comment": " Quick and kind "}, headers=visitor.auth
        )
        assert r.status_code == 201
        assert r.json() == {
            "requested": True,
            "due": False,
            "rating": 4,
            "comment": "Quick and kind",
        }
        r = await visitor.client.post(url, json={"rating": 1}, headers=visitor.auth)
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_rated"
        csat = (await agent.get(base)).json()["csat"]
        assert (csat["rating"], csat["comment"]) == (4, "Quick and kind")
        # Reopened and resolved again: a new rating is due and replaces the old one.
        await agent.post(base + "/reopen")
        await agent.post(base + "/resolve")
        r = await visitor.client.post(url, json={"rating": 5}, headers=visitor.auth)
        assert r.status_code == 201 and r.json()["rating"] == 5


async def test_suggestions_degrade_visibly_when_the_knowledge_base_fails(
    sqlite_url, tmp_path
) -> None:
    class Unavailable:
        async def search(self, *args, **kwargs):
            raise BackendError("index offline")

    async with inbox_app(sqlite_url, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.customer_waiting()
        # A question to search for (a request for a person alone is not searched).
        await visitor.say("How long do refunds take?")
        h.app.state.kb = Unavailable()
        detail = (await agent.get(f"/api/v1/inbox/conversations/{visitor.id}")).json()
        assert detail["suggestions"]["available"] is False
        html = (await agent.get(f"/inbox/fragments/conversations/{visitor.id}/context")).text
        assert "suggestions are unavailable" in html
