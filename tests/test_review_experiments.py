"""A/B tests of a response on SQLite and PostgreSQL: the split sticks to a conversation,
exposures and figures per variant (resolved, escalated, thumbs) with a significance test, a
winner promoted by hand; refusals for an unknown intent and a second test of one intent."""

from __future__ import annotations

import pytest

from smartsupport.domain import utcnow
from smartsupport.ids import new_id
from smartsupport.review.experiments import Experiment, Variant, get, results, significance
from tests.reviewkit import conversation, review_app

CONFIGURED = "We are open 9 to 6, Monday to Saturday."
FRIENDLIER = "We're here for you 9 to 6, Monday to Saturday!"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    return request.getfixturevalue("postgres_url")


async def test_variants_split_by_conversation_with_figures_and_a_promoted_winner(
    database_url, tmp_path
) -> None:
    async with review_app(database_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])
        body = {
            "name": "Friendlier hours",
            "intent": "opening_hours",
            "variants": [{"name": "A"}, {"name": "B", "text": FRIENDLIER}],
        }
        r = await sup.post("/api/v1/review/shop/experiments", json=body)
        assert r.status_code == 201, r.text
        experiment_id = r.json()["experiment"]["id"]
        twice = await sup.post("/api/v1/review/shop/experiments", json=body)
        assert twice.status_code == 409
        unknown = await sup.post(
            "/api/v1/review/shop/experiments", json={**body, "intent": "warranty"}
        )
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_intent"

        seen: dict[str, str] = {}
        for n in range(16):
            client, started = await conversation(h)
            auth = {"Authorization": f"Bearer {started['token']}"}
            url = f"/api/v1/conversations/{started['id']}/messages"
            texts = []
            for question in ("what are your opening hours", "are you open on sunday"):
                r = await client.post(url, json={"text": question}, headers=auth)
                assert r.status_code == 201, r.text
                texts.append(r.json()["replies"][0]["text"])
            assert texts[0] == texts[1], "a conversation keeps its variant"
            assert texts[0] in (CONFIGURED, FRIENDLIER)
            seen[started["id"]] = texts[0]
            reply_id = r.json()["replies"][0]["id"]
            if n % 4 == 0:  # some hand over to people, some rate the answer
                person = {"text": "I want to talk to a person"}
                r = await client.post(url, json=person, headers=auth)
                assert r.json()["status"] == "waiting_for_agent", r.text
            elif n % 4 == 1:
                await h.services.store.execute(  # type: ignore[attr-defined]
                    "INSERT INTO answer_feedback (id, workspace_id, conversation_id, message_id,"
                    " rating, source, created_at) VALUES (?, 'shop', ?, ?, -1, 'customer', ?)",
                    new_id(), started["id"], reply_id, utcnow(),
                )  # fmt: skip
        assert set(seen.values()) == {CONFIGURED, FRIENDLIER}, "both variants were shown"

        r = await sup.get(f"/api/v1/review/shop/experiments/{experiment_id}")
        assert r.status_code == 200, r.text
        figures = {v["name"]: v for v in r.json()["variants"]}
        shown = {"A": sum(t == CONFIGURED for t in seen.values())}
        shown["B"] = len(seen) - shown["A"]
        for name in ("A", "B"):
            v = figures[name]
            assert v["conversations"] == shown[name]
            assert v["escalated"] + v["resolved"] + v["thumbs_down"] == v["conversations"]
        assert sum(v["escalated"] for v in figures.values()) == 4
        assert sum(v["thumbs_down"] for v in figures.values()) == 4
        assert figures["B"]["versus_control"]["test"] in ("z", "fisher")
        assert 0 <= figures["B"]["versus_control"]["p_value"] <= 1
        # The typed answer (review/wire.py) is the library's dict exactly: the page and the
        # CLI read that dict; the control has no versus_control at all.
        stored = await get(h.services.store, "shop", experiment_id)
        assert r.json() == await results(h.services.store, stored)
        assert "versus_control" not in figures["A"]

        bad = await sup.post(
            f"/api/v1/review/shop/experiments/{experiment_id}/promote", json={"variant": "C"}
        )
        assert bad.status_code == 422
        r = await sup.post(
            f"/api/v1/review/shop/experiments/{experiment_id}/promote", json={"variant": "B"}
        )
        assert r.status_code == 200 and r.json()["experiment"]["status"] == "promoted"
        for _ in range(3):
            client, started = await conversation(h)
            r = await client.post(
                f"/api/v1/conversations/{started['id']}/messages",
                json={"text": "what are your opening hours"},
                headers={"Authorization": f"Bearer {started['token']}"},
            )
            assert r.json()["replies"][0]["text"] == FRIENDLIER
        after = (await sup.get(f"/api/v1/review/shop/experiments/{experiment_id}")).json()
        assert sum(v["conversations"] for v in after["variants"]) == len(seen), (
            "a promoted winner is no longer an experiment: no new exposures"
        )
        listed = (await sup.get("/api/v1/review/shop/experiments")).json()["experiments"]
        assert listed == [after]
        r = await sup.post(f"/api/v1/review/shop/experiments/{experiment_id}/stop")
        assert r.status_code == 200 and r.json()["experiment"]["status"] == "stopped"


def test_the_significance_test() -> None:
    # 60/100 vs 40/100: z = 2.83, p = 0.0047 (two-sided, pooled).
    result = significance(60, 100, 40, 100)
    assert result["test"] == "z" and result["significant"]
    assert result["p_value"] == pytest.approx(0.00468, abs=1e-4)
    # Small counts: Fisher's exact test (3/4 vs 0/4: p = 0.1429).
    small = significance(3, 4, 0, 4)
    assert small["test"] == "fisher" and not small["significant"]
    assert small["p_value"] == pytest.approx(0.142857, abs=1e-5)
    assert significance(0, 0, 3, 10)["p_value"] is None


def test_a_conversation_always_gets_the_same_variant() -> None:
    experiment = Experiment(
        "e1", "shop", "x", "opening_hours", [Variant("A", None, 1), Variant("B", "b", 3)],
        "running", None, None, utcnow(), None,
    )  # fmt: skip
    picks = [experiment.variant_for(f"c{i}").name for i in range(2000)]
    assert picks == [experiment.variant_for(f"c{i}").name for i in range(2000)]
    assert 0.70 < picks.count("B") / len(picks) < 0.80  # weights 1:3
