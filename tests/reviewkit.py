"""Helpers for the review tests: an app on the small review shop (tests/data/review_shop),
customers who say things, staff who review them.

    async with review_app(database_url, tmp_path) as h:
        sup = await h.staff("sue@example.com", "supervisor", ["shop"])
        await say(h, "do you sell gift cards")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from smartsupport.job_runner import JobRunner
from smartsupport.worker import JOB_HANDLERS
from tests.inboxkit import Harness, inbox_app

SHOP = Path(__file__).parent / "data" / "review_shop"
# Two flows that answer "where is my order" (flows.yaml for the flow experiments' tests): the
# configured one asks for the order number, the other answers at once.
FLOWS = """
flows:
  track_order:
    intents: [order_status]
    on_question: start
    slots:
      order_id: {extract: '\\bORD-\\d{5}\\b', ask: "What is your order number?"}
    steps:
      - say: "Order {{ slots.order_id }} is on its way."
  track_order_quick:
    on_question: start
    steps:
      - say: "Your order is on its way; the tracking link is in your e-mail."
"""

GIFT_CARDS = [
    "do you sell gift cards",
    "gift card for my mom",
    "are gift vouchers available",
    "gift cards for christmas?",
    "do you have gift vouchers",
    "I'd like a gift card please",
    "can I get a gift voucher for my sister",
    "gift card",
]


@asynccontextmanager
async def review_app(
    database_url: str, tmp_path: Path, redis_url: str = "", **settings: Any
) -> AsyncIterator[Harness]:
    workspaces = tmp_path / "workspaces"
    workspaces.mkdir()
    (workspaces / "shop").symlink_to(SHOP, target_is_directory=True)
    async with inbox_app(
        database_url, redis_url, demo=False, workspaces_dir=workspaces,
        data_dir=tmp_path / "data", **settings,
    ) as h:  # fmt: skip
        yield h


async def conversation(h: Harness) -> tuple[Any, dict[str, str]]:
    client = h.client()
    r = await client.post("/api/v1/conversations", json={"workspace": "shop"})
    assert r.status_code == 201, r.text
    body = r.json()
    return client, {"id": body["id"], "token": body["token"]}


async def say(h: Harness, *texts: str) -> list[dict[str, Any]]:
    """Each text in one new conversation; the turns' results."""
    results = []
    for text in texts:
        client, started = await conversation(h)
        r = await client.post(
            f"/api/v1/conversations/{started['id']}/messages",
            json={"text": text},
            headers={"Authorization": f"Bearer {started['token']}"},
        )
        assert r.status_code == 201, r.text
        results.append(r.json())
    return results


async def retrained(h: Harness, sup: Any, workspace: str = "shop") -> dict[str, Any]:
    """Ask for a retraining (202, a job), let a job runner lease and run it (this harness
    starts no worker), and return the job as its status URL shows it at the end."""
    r = await sup.post(f"/api/v1/review/{workspace}/retrain")
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == job["status_url"] and job["status"] == "queued"
    ended = await JobRunner(h.services, JOB_HANDLERS, "test-runner").run_next(job["id"])
    assert ended is not None and ended.finished, ended
    status = await sup.get(job["status_url"])
    assert status.status_code == 200, status.text
    return status.json()


def engine(h: Harness) -> Any:
    return h.services.assistant.nlu  # type: ignore[union-attr]
