"""Retraining from the review queue as a job (review/retrain_jobs.py), and the model it
deploys reaching every serving process through the backplane (review/live.py ``follow``).

Two app instances share PostgreSQL and Redis. A supervisor asks replica A for a retraining
(202, a job); a job runner leases and runs it; replica B, which took no part and serves no
turn meanwhile, has the deployed model in place within seconds (not at its next turn after
the 30 s check), and the audit log has the request and the outcome.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.reviewkit import GIFT_CARDS, engine, retrained, review_app, say
from tests.test_review import gift_cluster


async def test_a_model_deployed_by_a_job_is_in_place_on_every_replica_at_once(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        review_app(postgres_url, tmp_path / "a", redis_url) as a,
        review_app(postgres_url, tmp_path / "b", redis_url) as b,
    ):
        sup = await a.staff("sue@example.com", "supervisor", ["shop"])
        await say(a, *GIFT_CARDS)
        cluster = gift_cluster((await sup.get("/api/v1/review/shop/queue")).json()["clusters"])
        r = await sup.post(
            "/api/v1/review/shop/decisions",
            json={"message_ids": cluster["message_ids"], "action": "new_intent",
                  "intent": "gift_cards"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        before = engine(b).model("shop").meta["hash"]

        asked = await sup.post("/api/v1/review/shop/retrain")
        again = await sup.post("/api/v1/review/shop/retrain")  # nothing changed: same job
        assert asked.status_code == again.status_code == 202
        assert again.json()["id"] == asked.json()["id"]
        job = await retrained(a, sup)
        assert job["id"] == asked.json()["id"] and job["status"] == "done", job
        model = job["result"]["model"]
        assert model["status"] == "deployed", model
        deployed = engine(a).model("shop").meta["hash"]
        assert deployed != before

        async with asyncio.timeout(10):
            while engine(b).model("shop").meta["hash"] != deployed:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        understood = await engine(b).understand("shop", "can I buy a gift card for my dad")
        assert understood.intent == "gift_cards"

        logged = await a.services.store.fetch(  # type: ignore[attr-defined]
            "SELECT action, target, actor FROM audit_log WHERE action LIKE 'review.retrain%' "
            "ORDER BY seq"
        )
        assert [(r["action"], r["target"], r["actor"]) for r in logged] == [
            ("review.retrain_requested", f"job:{job['id']}", f"staff:{sup.user_id}"),
            ("review.retrained", f"model:{model['id']}", f"staff:{sup.user_id}"),
        ]
