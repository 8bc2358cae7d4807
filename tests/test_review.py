"""The review queue end to end, on SQLite and PostgreSQL: misunderstood turns grouped into
clusters with counts and reasons, reviewers' decisions (and the refusals: a deleted intent,
nothing chosen, a foreign message), retraining that deploys a better model at once and keeps
it across a restart, and a worse model that is not deployed, with the reason, then run in
shadow mode on live turns with its agreement reported.
"""

from __future__ import annotations

import asyncio

import pytest

from smartsupport.domain import utcnow
from smartsupport.ids import new_id
from smartsupport.nlu.engine import NluEngine
from smartsupport.review import retrain as retraining
from smartsupport.review.store import ReviewStore, held_out
from tests.reviewkit import GIFT_CARDS, engine, retrained, review_app, say


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    return request.getfixturevalue("postgres_url")


def gift_cluster(clusters: list[dict]) -> dict:
    found = [c for c in clusters if "gift" in c["title"].lower()]
    assert found, [c["title"] for c in clusters]
    return max(found, key=lambda c: c["size"])


async def test_queue_clusters_decisions_and_a_retrained_model_going_live(
    database_url, tmp_path
) -> None:
    async with review_app(database_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])
        agent = await h.staff("al@example.com", "agent", ["shop"])
        empty = await sup.get("/api/v1/review/shop/queue")
        assert empty.status_code == 200 and empty.json() == {
            "clusters": [], "intents": ["opening_hours", "order_status", "returns"],
            "messages": 0,
        }  # fmt: skip

        turns = await say(h, *GIFT_CARDS, "where is my order", "are you open on sunday")
        # A thumbs down on an answer the model was sure of puts that message in the queue too.
        answered = turns[-1]
        await h.services.store.execute(  # type: ignore[attr-defined]
            "INSERT INTO answer_feedback (id, workspace_id, conversation_id, message_id, rating,"
            " source, created_at) VALUES (?, 'shop', ?, ?, -1, 'customer', ?)",
            new_id(), answered["message"]["conversation_id"], answered["replies"][0]["id"],
            utcnow(),
        )  # fmt: skip

        assert (await agent.get("/api/v1/review/shop/queue")).status_code == 403
        r = await sup.get("/api/v1/review/shop/queue")
        assert r.status_code == 200, r.text
        queue = r.json()
        cluster = gift_cluster(queue["clusters"])
        assert cluster["size"] >= 4 and cluster["reasons"].get("out_of_scope", 0) >= 4
        assert len(cluster["examples"]) <= 5 and len(cluster["message_ids"]) == cluster["size"]
        flagged = [c for c in queue["clusters"] if c["reasons"].get("negative_feedback")]
        assert [c["title"] for c in flagged] == ["are you open on sunday"]

        # Refused, with reasons: a deleted intent, nothing chosen, someone else's message.
        bad = await sup.post(
            "/api/v1/review/shop/decisions",
            json={"message_ids": cluster["message_ids"], "action": "assign", "intent": "warranty"},
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_intent"
        assert "does not exist" in bad.json()["error"]["message"]
        none = await sup.post(
            "/api/v1/review/shop/decisions", json={"message_ids": [], "action": "dismiss"}
        )
        assert none.status_code == 422 and "at least one" in none.json()["error"]["message"]
        foreign = await sup.post(
            "/api/v1/review/shop/decisions",
            json={"message_ids": ["nope"], "action": "dismiss"},
        )
        assert foreign.status_code == 404
        clash = await sup.post(
            "/api/v1/review/shop/decisions",
            json={"message_ids": cluster["message_ids"], "action": "new_intent",
                  "intent": "returns"},
        )  # fmt: skip
        assert clash.status_code == 409
        nothing = await sup.post("/api/v1/review/shop/retrain")
        assert nothing.status_code == 422 and "nothing to learn" in nothing.text

        ok = await sup.post(
            "/api/v1/review/shop/decisions",
            json={"message_ids": cluster["message_ids"], "action": "new_intent",
                  "intent": "gift_cards"},
        )  # fmt: skip
        assert ok.status_code == 200 and ok.json() == {"decided": cluster["size"]}
        again = (await sup.get("/api/v1/review/shop/queue")).json()
        assert all("gift" not in c["title"].lower() for c in again["clusters"])
        assert "gift_cards" in again["intents"]

        live_before = engine(h).model("shop")
        job = await retrained(h, sup)
        assert job["status"] == "done", job
        model = job["result"]["model"]
        assert model["status"] == "deployed", model
        evaluation = model["evaluation"]
        assert evaluation["trained_on"]["reviewed"] == sum(
            not held_out(i) for i in cluster["message_ids"]
        )
        assert evaluation["written"]["candidate"]["n"] == 24
        assert engine(h).model("shop") is not live_before
        # One reviewed message in four is held out for the test set, by its (random) id: a
        # paraphrase is not sure to be understood when most of the eight happen to be held
        # out (about one run in forty), a message the new model was trained on is.
        trained = [
            t["message"]["text"] for t in turns[: len(GIFT_CARDS)]
            if t["message"]["id"] in cluster["message_ids"] and not held_out(t["message"]["id"])
        ]  # fmt: skip
        assert trained, "every reviewed message held out"
        understood = await engine(h).understand("shop", trained[0])
        assert understood.intent == "gift_cards"

        # A restart loads the deployed model instead of the intents.yaml one.
        restarted = NluEngine(tmp_path, models_dir=tmp_path / "data" / "models")
        await restarted.prepare(h.services.workspace("shop"))
        restored = await retraining.restore_deployed(
            h.services.store, restarted, h.services.workspace("shop")
        )
        assert restored is not None and restored.id == model["id"]
        assert restarted.model("shop").meta["hash"] == engine(h).model("shop").meta["hash"]
        listed = (await sup.get("/api/v1/review/shop/models")).json()["models"]
        assert [m["status"] for m in listed] == ["deployed"]
        logged = await h.services.store.fetch(  # type: ignore[attr-defined]
            "SELECT action, target FROM audit_log WHERE action LIKE 'review.%' ORDER BY seq"
        )
        assert [(r["action"], r["target"]) for r in logged] == [
            ("review.decided", "intent:gift_cards"),
            ("review.retrain_requested", f"job:{job['id']}"),
            ("review.retrained", f"model:{model['id']}"),
        ]


async def test_a_worse_model_is_not_deployed_and_can_run_in_shadow(sqlite_url, tmp_path) -> None:
    async with review_app(sqlite_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])
        await say(h, *GIFT_CARDS)
        cluster = gift_cluster((await sup.get("/api/v1/review/shop/queue")).json()["clusters"])
        ids = cluster["message_ids"]
        trained = [i for i in ids if not held_out(i)]
        tested = [i for i in ids if held_out(i)] or trained[-1:]
        trained = [i for i in trained if i not in tested]
        # A careless reviewer files gift cards under returns; the held-out ones are dismissed,
        # so the test set says they are out of scope, which the live model gets right.
        for message_ids, action, intent in (
            (trained, "assign", "returns"),
            (tested, "dismiss", None),
        ):
            r = await sup.post(
                "/api/v1/review/shop/decisions",
                json={"message_ids": message_ids, "action": action, "intent": intent},
            )
            assert r.status_code == 200, r.text
        live = engine(h).model("shop")
        job = await retrained(h, sup)
        assert job["status"] == "done", job
        model = job["result"]["model"]
        assert model["status"] == "rejected", model
        assert model["reason"].startswith("not deployed: accuracy")
        assert "below the live model" in model["reason"]
        assert engine(h).model("shop") is live

        shadowed = await sup.post(f"/api/v1/review/shop/models/{model['id']}/shadow")
        assert shadowed.status_code == 200, shadowed.text
        await say(h, "do you sell gift certificates", "where is my order", "gift voucher?")
        await h.services.assistant.live.shadow.drain()  # type: ignore[union-attr]
        report = (await sup.get(f"/api/v1/review/shop/models/{model['id']}/agreement")).json()
        assert report["turns"] == 3
        assert report["agreed"] >= 1  # "where is my order": both say order_status
        assert any(d["shadow"] == "returns" for d in report["disagreements"]), report
        assert (await ReviewStore(h.services.store).with_status("shop", "shadow")).id == model["id"]
        stopped = await sup.delete("/api/v1/review/shop/shadow")
        assert stopped.status_code == 204
        missing = await sup.post("/api/v1/review/shop/models/nope/shadow")
        assert missing.status_code == 404


def test_the_gate_names_what_got_worse() -> None:
    evaluation = {
        "test": {"candidate": {"n": 10, "accuracy": 0.6}, "previous": {"n": 10, "accuracy": 0.7}},
        "written": {
            "candidate": {"n": 24, "accuracy": 0.95},
            "previous": {"n": 24, "accuracy": 1.0},
        },
    }
    reasons = retraining._worse(evaluation)
    assert reasons == [
        "accuracy 0.60 on 10 held-out reviewed messages is below the live model's 0.70",
        "accuracy 0.95 on the 24 written examples is below the live model's 1.00",
    ]
    evaluation["test"]["candidate"]["accuracy"] = 0.7
    evaluation["written"]["candidate"]["accuracy"] = 0.995
    assert retraining._worse(evaluation) == []


async def test_a_model_deployed_by_another_process_answers_here_soon(sqlite_url, tmp_path) -> None:
    async with review_app(sqlite_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])
        await say(h, *GIFT_CARDS)
        cluster = gift_cluster((await sup.get("/api/v1/review/shop/queue")).json()["clusters"])
        r = await sup.post(
            "/api/v1/review/shop/decisions",
            json={"message_ids": cluster["message_ids"], "action": "new_intent",
                  "intent": "gift_cards"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        # Another server (or `smartsupport review retrain`) with its own engine retrains.
        workspace = h.services.workspace("shop")
        models_dir = h.services.settings.models_dir or tmp_path / "data" / "models"
        elsewhere = NluEngine(tmp_path, models_dir=models_dir)
        await elsewhere.prepare(workspace)
        record = await retraining.retrain(h.services.store, workspace, elsewhere, models_dir)
        assert record.status == "deployed", record.reason
        assert engine(h).model("shop").meta["hash"] != record.model_hash
        live = h.services.assistant.live  # type: ignore[union-attr]
        live._next_check.clear()  # the check is due (every MODEL_CHECK_SECONDS)
        await say(h, "hello")
        await asyncio.gather(*live._checks)
        assert engine(h).model("shop").meta["hash"] == record.model_hash


async def test_an_erased_conversation_leaves_no_copy_in_the_review_tables(
    database_url, tmp_path
) -> None:
    async with review_app(database_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])
        turns = await say(h, "do you sell gift cards", "gift card for my mom")
        ids = [t["message"]["id"] for t in turns]
        r = await sup.post(
            "/api/v1/review/shop/decisions", json={"message_ids": ids, "action": "needs_article"}
        )
        assert r.status_code == 200, r.text
        review = ReviewStore(h.services.store)
        assert {d.text for d in await review.decisions("shop")} == {
            "do you sell gift cards", "gift card for my mom",
        }  # fmt: skip
        # Erasure and the retention purge delete conversations (and their messages).
        await h.services.store.execute(  # type: ignore[attr-defined]
            "DELETE FROM conversations WHERE id = ?", turns[0]["message"]["conversation_id"]
        )
        assert (await sup.get("/api/v1/review/shop/queue")).status_code == 200
        assert [d.text for d in await review.decisions("shop")] == ["gift card for my mom"]
