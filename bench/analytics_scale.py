"""How long the analytics dashboard's queries take over a large seeded data set.

    python bench/analytics_scale.py --turns 1000000 --database sqlite:////tmp/analytics.db
    python bench/analytics_scale.py --turns 1000000 \\
        --database postgresql://postgres@127.0.0.1:5432/bench

Seeds a workspace ``bench`` with ``--turns`` customer turns (each a customer message with
``meta.nlu`` and the assistant's reply with ``meta.step``, some citing articles), spread over
``--days`` days, ``--turns-per-conversation`` turns per conversation, with the share of
handoffs, agent replies, CSAT ratings, thumbs and LLM usage of a busy deployment; rows go in
with the store's shared SQL in batches, exactly as the product stores them. Then times, each
``--repeat`` times (best and median): the report of the last 30 days (what the dashboard
shows first), the last 7 days, 30 days filtered by intent, and the whole CSV export of 30
days (streamed through ``analytics.walk``). ``--keep`` reuses a seeded database.

Figures depend on the machine: measure on a quiet one (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smartsupport.analytics import Filters, walk  # noqa: E402
from smartsupport.analytics_report import build_report, csv_row  # noqa: E402
from smartsupport.domain import Workspace  # noqa: E402
from smartsupport.ids import new_id  # noqa: E402
from smartsupport.storage import open_store  # noqa: E402

WORKSPACE = "bench"
INTENTS = ["shipping", "returns", "refund", "order_status", "payment", "account", None]
STEPS = ["extractive", "extractive", "intent_response", "flow", "faq", "fallback", "llm:primary"]
BATCH = 5000


def conversation_rows(
    rng: random.Random, start: datetime, turns: int
) -> tuple[tuple[Any, ...], tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]],
           list[tuple[Any, ...]], tuple[Any, ...] | None]:  # fmt: skip
    """One conversation: its customer, itself, messages, status events, feedback, inbox row."""
    customer_id, conversation_id = new_id(), new_id()
    channel = "email" if rng.random() < 0.15 else "web"
    metadata: dict[str, Any] = {"locale": rng.choice(["en", "en", "de", "fr", "es"])}
    messages: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    feedback: list[tuple[Any, ...]] = []
    at, seq = start, 0
    escalate_at = rng.randrange(turns) if rng.random() < 0.2 else None
    status = "bot"
    for turn in range(turns):
        at += timedelta(seconds=rng.randint(5, 90))
        seq += 1
        intent = rng.choice(INTENTS)
        nlu = {"language": metadata["locale"], "intent": intent,
               "confidence": round(rng.random(), 3), "out_of_scope": intent is None}  # fmt: skip
        question = new_id()
        messages.append((question, conversation_id, seq, "customer",
                         f"question {rng.randint(1, 500)}", None, {"nlu": nlu}, at))  # fmt: skip
        seq += 1
        step = "handoff" if turn == escalate_at else rng.choice(STEPS)
        meta: dict[str, Any] = {"step": step}
        if step in ("extractive", "llm:primary"):
            article = f"article-{rng.randint(1, 40)}"
            meta["citations"] = [{"article_id": article, "title": article.title(), "url": None}]
        reply = new_id()
        answered_at = at + timedelta(milliseconds=rng.randint(80, 3000))
        messages.append((reply, conversation_id, seq, "bot", "answer", question, meta, answered_at))
        if rng.random() < 0.05:
            rating = rng.choice([1, 1, -1])
            feedback.append((new_id(), WORKSPACE, conversation_id, reply, rating, None,
                             "customer", None, answered_at))  # fmt: skip
        if turn == escalate_at:
            events.append((WORKSPACE, conversation_id, "conversation.status",
                           {"status": "waiting_for_agent", "reason": "customer asked for a human"},
                           answered_at))  # fmt: skip
            status = "waiting_for_agent"
            break
    inbox = None
    if status != "bot" and rng.random() < 0.8:
        assigned = at + timedelta(seconds=rng.randint(20, 600))
        seq += 1
        messages.append((new_id(), conversation_id, seq, "agent", "agent reply", None, {},
                         assigned + timedelta(seconds=10)))  # fmt: skip
        resolved = assigned + timedelta(seconds=rng.randint(60, 1800))
        rating = rng.randint(1, 5) if rng.random() < 0.3 else None
        inbox = (conversation_id, WORKSPACE, assigned, resolved, rating, resolved)
        status = "resolved"
    if rng.random() < 0.1:
        metadata["llm_usage"] = {"input_tokens": rng.randint(200, 2000),
                                 "output_tokens": rng.randint(50, 300),
                                 "cost": round(rng.random() / 100, 6), "calls": 1}  # fmt: skip
    customer = (customer_id, WORKSPACE, channel, start)
    conversation = (conversation_id, WORKSPACE, customer_id, channel, status, seq, metadata,
                    start, at)  # fmt: skip
    return customer, conversation, messages, events, feedback, inbox


async def seed(db: Any, turns: int, per_conversation: int, days: int, now: datetime) -> None:
    rng = random.Random(15)
    await db.upsert_workspace(Workspace(WORKSPACE, "Bench"))
    done, started = 0, time.perf_counter()
    span = days * 86400
    while done < turns:
        rows: list[list[Any]] = [[], [], [], [], [], []]
        while len(rows[2]) < BATCH and done < turns:
            n = min(per_conversation, turns - done)
            start = now - timedelta(days=4, seconds=rng.randrange(span))
            made = conversation_rows(rng, start, n)
            for bucket, value in zip(rows, made, strict=True):
                if isinstance(value, list):
                    bucket.extend(value)
                elif value is not None:
                    bucket.append(value)
            done += sum(1 for m in made[2] if m[3] == "customer")  # a handoff ends it early
        customers, conversations, messages, events, feedback, inbox = rows
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO customers (id, workspace_id, channel, metadata, created_at) "
                "VALUES (?, ?, ?, '{}', ?)",
                customers,
            )
            await tx.executemany(
                "INSERT INTO conversations (id, workspace_id, customer_id, channel, status, "
                "last_seq, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                conversations,
            )
            await tx.executemany(
                "INSERT INTO messages (id, conversation_id, seq, author, text, reply_to, meta, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                messages,
            )
            if events:
                await tx.executemany(
                    "INSERT INTO events (workspace_id, conversation_id, type, data, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    events,
                )
            if feedback:
                await tx.executemany(
                    "INSERT INTO answer_feedback (id, workspace_id, conversation_id, "
                    "message_id, rating, reason, source, staff_id, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    feedback,
                )
            if inbox:
                await tx.executemany(
                    "INSERT INTO inbox_conversations (conversation_id, workspace_id, "
                    "assigned_at, resolved_at, csat_rating, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    inbox,
                )
        print(f"  seeded {done:,} turns ({time.perf_counter() - started:.0f} s)", flush=True)


async def timed(label: str, repeat: int, run: Any) -> dict[str, Any]:
    seconds = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await run()
        seconds.append(time.perf_counter() - started)
    best, median = min(seconds), statistics.median(seconds)
    print(f"{label:<34} best {best * 1000:8.0f} ms   median {median * 1000:8.0f} ms   {result}")
    return {"label": label, "best_s": best, "median_s": median}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite:////tmp/smartsupport-analytics-bench.db")
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--turns-per-conversation", type=int, default=4)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="reuse an already seeded database")
    args = parser.parse_args()
    now = datetime.now(UTC)
    store = open_store(args.database)
    await store.connect()
    try:
        await store.migrate()
        seeded = await store.fetchrow(  # type: ignore[attr-defined]
            "SELECT COUNT(*) AS n FROM messages m JOIN conversations c ON c.id = "
            "m.conversation_id WHERE c.workspace_id = ? AND m.author = 'customer'",
            WORKSPACE,
        )
        if not (args.keep and seeded and seeded["n"]):
            print(f"seeding {args.turns:,} turns into {args.database.split('@')[-1]}")
            await seed(store, args.turns, args.turns_per_conversation, args.days, now)
        window = timedelta(hours=72)

        def report(days: int, **extra: str) -> Any:
            filters = Filters(WORKSPACE, now - timedelta(days=days), now, **extra)

            async def run() -> str:
                body = await build_report(store, filters, window, now)
                t = body["totals"]
                return f"{t['conversations']:,} conversations, {t['turns']:,} turns"

            return run

        async def export() -> str:
            filters = Filters(WORKSPACE, now - timedelta(days=30), now)
            rows = 0
            async for page in walk(store, filters, window, now):
                rows += sum(1 for f in page if csv_row(f))
            return f"{rows:,} rows"

        await timed("report, last 30 days", args.repeat, report(30))
        await timed("report, last 7 days", args.repeat, report(7))
        await timed("report, 30 days, intent=shipping", args.repeat, report(30, intent="shipping"))
        await timed("CSV export, last 30 days", args.repeat, export)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
