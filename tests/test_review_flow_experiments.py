"""A/B tests of which flow an intent starts, on SQLite and PostgreSQL: the split sticks to a
conversation, the exposure is an event of the turn that starts the flow, the flow's replies
carry the variant, figures per variant count how the flows ended, a promoted winner's flow
starts for everyone; bad variants are refused with a 422 that says why."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from smartsupport.context import ConversationContext
from smartsupport.dialogue.choice import Chosen
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.domain import Author, Conversation, Message, Understanding
from smartsupport.review.experiments import get, results
from smartsupport.turn import Turn
from smartsupport.workspaces import load_workspace_dir
from tests.inboxkit import Harness, inbox_app
from tests.reviewkit import FLOWS, SHOP, conversation

ASK = "What is your order number?"
QUICK = "Your order is on its way; the tracking link is in your e-mail."


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    return request.getfixturevalue("postgres_url")


@asynccontextmanager
async def flow_shop(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The review shop with two flows that both answer "where is my order"."""
    workspace = tmp_path / "workspaces" / "shop"
    shutil.copytree(SHOP, workspace)
    (workspace / "flows.yaml").write_text(FLOWS)
    async with inbox_app(
        database_url, "", demo=False, workspaces_dir=workspace.parent,
        data_dir=tmp_path / "data",
    ) as h:  # fmt: skip
        yield h


async def _say(client: Any, started: dict[str, str], text: str) -> str:
    r = await client.post(
        f"/api/v1/conversations/{started['id']}/messages",
        json={"text": text},
        headers={"Authorization": f"Bearer {started['token']}"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["replies"][0]["text"])


async def _events(h: Harness, kind: str) -> list[dict[str, Any]]:
    return await h.services.store.fetch(  # type: ignore[attr-defined, no-any-return]
        "SELECT conversation_id, data FROM events WHERE type = ? ORDER BY id", kind
    )


async def test_a_flow_experiment_splits_conversations_between_two_flows(
    database_url, tmp_path
) -> None:
    async with flow_shop(database_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])
        body = {
            "name": "Quick tracking",
            "intent": "order_status",
            "variants": [{"name": "A"}, {"name": "B", "flow": "track_order_quick"}],
        }
        r = await sup.post("/api/v1/review/shop/experiments", json=body)
        assert r.status_code == 201, r.text
        experiment_id = r.json()["experiment"]["id"]
        assert r.json()["experiment"]["kind"] == "flow"
        assert r.json()["experiment"]["variants"][1]["flow"] == "track_order_quick"

        seen: dict[str, str] = {}
        for n in range(16):
            client, started = await conversation(h)
            first = await _say(client, started, "where is my order")
            assert first in (ASK, QUICK)
            variant = "A" if first == ASK else "B"
            seen[started["id"]] = variant
            if variant == "A":  # the configured flow asks; half answer, half give up
                answer = "ORD-12345" if n % 2 == 0 else "cancel"
                ended = await _say(client, started, answer)
                if answer == "cancel":
                    assert ended != "Order ORD-12345 is on its way."
                else:
                    assert ended == "Order ORD-12345 is on its way."
            else:  # asked again, the conversation gets the same flow
                assert await _say(client, started, "where is my order") == QUICK
        variants = list(seen.values())
        assert set(variants) == {"A", "B"}, "both flows were started"

        # One exposure per flow started, in the turn that started it, naming the flow.
        exposures = await _events(h, "experiment.exposure")
        assert sorted((e["conversation_id"], e["data"]["variant"]) for e in exposures) == sorted(
            [(c, v) for c, v in seen.items()] + [(c, "B") for c, v in seen.items() if v == "B"]
        )
        for e in exposures:
            assert e["data"]["experiment"] == experiment_id
            assert (
                e["data"]["flow"]
                == {"A": "track_order", "B": "track_order_quick"}[e["data"]["variant"]]
            )
        # The flows' replies carry the variant (thumbs on them count for it).
        marked = await h.services.store.fetch(  # type: ignore[attr-defined]
            "SELECT conversation_id, meta FROM messages WHERE author = 'bot'"
            " AND meta->>'experiment' = ?",
            experiment_id,
        )
        assert {(m["conversation_id"], m["meta"]["variant"]) for m in marked} == set(seen.items())
        assert all(m["meta"]["step"] == "flow" for m in marked)

        r = await sup.get(f"/api/v1/review/shop/experiments/{experiment_id}")
        assert r.status_code == 200, r.text
        figures = {v["name"]: v for v in r.json()["variants"]}
        a_ids = [n for n, (c, v) in enumerate(seen.items()) if v == "A"]
        answered = sum(1 for n in a_ids if n % 2 == 0)
        assert figures["A"]["conversations"] == variants.count("A")
        assert figures["B"]["conversations"] == variants.count("B")
        assert figures["A"]["flow"] is None and figures["B"]["flow"] == "track_order_quick"
        assert figures["A"]["flows"] == {
            "completed": answered, "failed": 0,
            "cancelled": len(a_ids) - answered, "handed_off": 0,
        }  # fmt: skip
        assert figures["B"]["flows"] == {
            "completed": 2 * variants.count("B"), "failed": 0, "cancelled": 0, "handed_off": 0
        }  # fmt: skip
        stored = await get(h.services.store, "shop", experiment_id)
        assert r.json() == await results(h.services.store, stored)

        r = await sup.post(
            f"/api/v1/review/shop/experiments/{experiment_id}/promote", json={"variant": "B"}
        )
        assert r.status_code == 200 and r.json()["experiment"]["status"] == "promoted"
        for _ in range(4):
            client, started = await conversation(h)
            assert await _say(client, started, "where is my order") == QUICK
        assert len(await _events(h, "experiment.exposure")) == len(exposures), (
            "a promoted winner is no longer an experiment: no new exposures"
        )
        after = (await sup.get(f"/api/v1/review/shop/experiments/{experiment_id}")).json()
        assert after["variants"][1]["flows"] == figures["B"]["flows"]

        # Stopped: the intent starts its configured flow again.
        r = await sup.post(f"/api/v1/review/shop/experiments/{experiment_id}/stop")
        assert r.status_code == 200
        client, started = await conversation(h)
        assert await _say(client, started, "where is my order") == ASK


async def test_bad_flow_variants_are_refused_with_the_reason(database_url, tmp_path) -> None:
    async with flow_shop(database_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])

        async def refused(intent: str, b: dict[str, Any]) -> dict[str, Any]:
            body = {"name": "x", "intent": intent, "variants": [{"name": "A"}, {"name": "B", **b}]}
            r = await sup.post("/api/v1/review/shop/experiments", json=body)
            assert r.status_code == 422, r.text
            return dict(r.json()["error"])

        unknown = await refused("order_status", {"flow": "track_parcel"})
        assert unknown["code"] == "unknown_flow"
        assert "'track_parcel'" in unknown["message"]
        assert "track_order, track_order_quick" in unknown["message"]
        both = await refused("order_status", {"flow": "track_order_quick", "text": "Hi"})
        assert both["code"] == "invalid_variant" and "not both" in both["message"]
        neither = await refused("order_status", {})
        assert neither["code"] == "invalid_variant" and "neither" in neither["message"]
        no_flow = await refused("opening_hours", {"flow": "track_order_quick"})
        assert no_flow["code"] == "intent_starts_no_flow"
        assert "'opening_hours' starts no flow" in no_flow["message"]
        mixed = {
            "name": "x",
            "intent": "order_status",
            "variants": [
                {"name": "A"},
                {"name": "B", "flow": "track_order_quick"},
                {"name": "C", "text": "Soon!"},
            ],
        }
        r = await sup.post("/api/v1/review/shop/experiments", json=mixed)
        assert r.status_code == 422 and "not both" in r.json()["error"]["message"]
        assert (await sup.get("/api/v1/review/shop/experiments")).json()["experiments"] == []

        # The page's form: B tests a flow, chosen from the workspace's flows.
        page = await sup.get("/inbox/review?workspace=shop")
        assert page.status_code == 200
        assert '<option value="track_order_quick">' in page.text
        form = {"name": "Quick", "intent": "opening_hours", "kind_b": "flow",
                "flow_b": "track_order_quick", "text_b": "", "share_b": "30"}  # fmt: skip
        r = await sup.post("/inbox/review/shop/experiments", data=form)
        assert r.status_code == 422 and "starts no flow" in r.text
        r = await sup.post(
            "/inbox/review/shop/experiments", data={**form, "intent": "order_status"}
        )
        assert r.status_code == 303, r.text
        (made,) = (await sup.get("/api/v1/review/shop/experiments")).json()["experiments"]
        assert made["experiment"]["kind"] == "flow"
        assert [(v["name"], v["flow"], v["weight"]) for v in made["experiment"]["variants"]] == [
            ("A", None, 70.0), ("B", "track_order_quick", 30.0)
        ]  # fmt: skip
        page = await sup.get("/inbox/review?workspace=shop")
        assert "B (flow track_order_quick)" in page.text
        assert "flows: 0 completed, 0 failed, 0 cancelled, 0 handed off" in page.text


class Flipping:
    """A flow choice that changes its mind on every call (as a promotion between two calls
    of one turn would), marking what it picks."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, turn: Turn, flow: str) -> Chosen:
        self.calls += 1
        picked = "track_order_quick" if self.calls % 2 else flow
        mark = {"experiment": "e1", "variant": str(self.calls)}
        return Chosen(picked, mark, [("experiment.exposure", {**mark, "flow": picked})])


def _turn(workspace: Any, context: ConversationContext, n: int, text: str) -> Turn:
    async def stream(_: str) -> None:
        return None

    conversation = Conversation("conv-1", "shop", "cust-1")
    message = Message(f"m{n}", "conv-1", n, Author.CUSTOMER, text)
    understanding = Understanding(intent="order_status", confidence=1.0)
    return Turn(workspace, conversation, message, context, understanding, stream)


async def test_would_start_and_the_start_agree_and_an_accepted_offer_keeps_the_choice(
    tmp_path,
) -> None:
    (tmp_path / "workspace.yaml").write_text("id: shop\nname: Shop\n")
    (tmp_path / "flows.yaml").write_text(FLOWS)
    workspace = load_workspace_dir(tmp_path)
    choice = Flipping()
    manager = DialogueManager({"shop": workspace}, None, None, flow_choice=choice)
    context = ConversationContext("conv-1")

    turn = _turn(workspace, context, 1, "where is my order")
    assert await manager.would_start(turn) == "track_order_quick"
    decision = await manager.handle(turn)
    assert decision is not None and choice.calls == 1, "one choice per message"
    assert [r.text for r in decision.replies] == [QUICK]
    assert decision.replies[0].meta["variant"] == "1"
    kinds = [(kind, data.get("variant")) for kind, data in decision.events]
    assert kinds == [
        ("flow.started", "1"), ("experiment.exposure", "1"), ("flow.completed", "1")
    ]  # fmt: skip

    # Asked about, offered, accepted on the next message: the offered flow is the one
    # chosen for the question, with its marks and exposure.
    context = ConversationContext.from_json(context.to_json())
    asked = _turn(workspace, context, 2, "where is my order")
    assert await manager.would_start(asked) == "track_order"  # the choice's second call
    context = ConversationContext.from_json(context.to_json())
    accepted = await manager.start(_turn(workspace, context, 3, "yes"), "track_order")
    assert accepted is not None and choice.calls == 2
    assert [r.text for r in accepted.replies] == [ASK]
    assert accepted.replies[0].meta["variant"] == "2"
    assert ("experiment.exposure", {"experiment": "e1", "variant": "2", "flow": "track_order"}) in (
        accepted.events
    )
    await manager.aclose()
