"""How long the analytics dashboard's queries take over a large seeded data set.

    python bench/analytics_scale.py --turns 1000000 --database sqlite:////tmp/analytics.db
    python bench/analytics_scale.py --turns 1000000 \\
        --database postgresql://postgres@127.0.0.1:5432/bench

Seeds a workspace ``bench`` with ``--turns`` customer turns (each a customer message with
``meta.nlu`` and the assistant's reply with ``meta.step``, some citing articles), spread over
``--days`` days, ``--turns-per-conversation`` turns per conversation, with the share of
handoffs, agent replies, CSAT ratings, thumbs and LLM usage of a busy deployment; rows go in
with the store's shared SQL in bulk batches (``bench/seeding.py``), exactly as the product
stores them, through the rollup's triggers. Then it builds the rollup (migration 0031) as the
worker's backfill does (``analytics_rollup.catch_up``; its throughput is printed) and the
daily sums of the settled days (migrations 0036 and 0040: the per-slice histograms and
question counts, ``analytics_daily.settle``), and times,
each ``--repeat`` times (best and median), what the API and the dashboard run
(``analytics_sums``): the report of the last 30 days (what the dashboard shows first), the
last 7 days, 30 days filtered by intent, 90 days, and the CSV export of 30 days (its first
page, what a download starts with, and the whole of it).
``--raw`` also times the raw computation once (``analytics_report.build_report``, the
pre-rollup path). ``--keep`` reuses a seeded database. ``--profile`` runs the 30-day and the
90-day report once more and prints the time of each of their queries.

Figures depend on the machine: measure on a quiet one (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seeding import WORKSPACE, Batch, analyze, open_bench_store, seeded, timed  # noqa: E402
from smartsupport import analytics_daily, analytics_rollup  # noqa: E402
from smartsupport.analytics import Filters  # noqa: E402
from smartsupport.analytics_report import build_report, csv_row  # noqa: E402
from smartsupport.analytics_sums import csv_pages, report  # noqa: E402
from smartsupport.ids import new_id  # noqa: E402

INTENTS = ["shipping", "returns", "refund", "order_status", "payment", "account", None]
STEPS = ["extractive", "extractive", "intent_response", "flow", "faq", "fallback", "llm:primary"]
BATCH = 5000


def add_conversation(batch: Batch, rng: random.Random, start: datetime, turns: int) -> int:
    """One conversation (its customer, messages, status events, feedback, inbox row) into
    ``batch``; returns its customer turns (a handoff ends it early)."""
    customer_id, conversation_id = new_id(), new_id()
    channel = "email" if rng.random() < 0.15 else "web"
    metadata: dict[str, Any] = {"locale": rng.choice(["en", "en", "de", "fr", "es"])}
    batch.add("customers", id=customer_id, workspace_id=WORKSPACE, channel=channel,
              metadata={}, created_at=start)  # fmt: skip
    at, seq, asked = start, 0, 0
    escalate_at = rng.randrange(turns) if rng.random() < 0.2 else None
    status = "bot"
    messages: list[dict[str, Any]] = []
    for turn in range(turns):
        at += timedelta(seconds=rng.randint(5, 90))
        seq += 1
        asked += 1
        intent = rng.choice(INTENTS)
        nlu = {"language": metadata["locale"], "intent": intent,
               "confidence": round(rng.random(), 3), "out_of_scope": intent is None}  # fmt: skip
        question = new_id()
        messages.append(dict(id=question, seq=seq, author="customer",
                             text=f"question {rng.randint(1, 500)}", meta={"nlu": nlu},
                             created_at=at))  # fmt: skip
        seq += 1
        step = "handoff" if turn == escalate_at else rng.choice(STEPS)
        meta: dict[str, Any] = {"step": step}
        if step in ("extractive", "llm:primary"):
            article = f"article-{rng.randint(1, 40)}"
            meta["citations"] = [{"article_id": article, "title": article.title(), "url": None}]
        reply = new_id()
        answered_at = at + timedelta(milliseconds=rng.randint(80, 3000))
        messages.append(dict(id=reply, seq=seq, author="bot", text="answer", reply_to=question,
                             meta=meta, created_at=answered_at))  # fmt: skip
        if rng.random() < 0.05:
            batch.add("answer_feedback", id=new_id(), workspace_id=WORKSPACE,
                      conversation_id=conversation_id, message_id=reply,
                      rating=rng.choice([1, 1, -1]), source="customer",
                      created_at=answered_at)  # fmt: skip
        if turn == escalate_at:
            batch.add("events", workspace_id=WORKSPACE, conversation_id=conversation_id,
                      type="conversation.status",
                      data={"status": "waiting_for_agent",
                            "reason": "customer asked for a human"},
                      created_at=answered_at)  # fmt: skip
            status = "waiting_for_agent"
            break
    inbox: dict[str, Any] | None = None
    if status != "bot" and rng.random() < 0.8:
        assigned = at + timedelta(seconds=rng.randint(20, 600))
        seq += 1
        messages.append(dict(id=new_id(), seq=seq, author="agent", text="agent reply",
                             meta={}, created_at=assigned + timedelta(seconds=10)))  # fmt: skip
        resolved = assigned + timedelta(seconds=rng.randint(60, 1800))
        rating = rng.randint(1, 5) if rng.random() < 0.3 else None
        inbox = dict(assigned_at=assigned, resolved_at=resolved, csat_rating=rating,
                     updated_at=resolved)  # fmt: skip
        status = "resolved"
    if rng.random() < 0.1:
        metadata["llm_usage"] = {"input_tokens": rng.randint(200, 2000),
                                 "output_tokens": rng.randint(50, 300),
                                 "cost": round(rng.random() / 100, 6), "calls": 1}  # fmt: skip
    batch.add("conversations", id=conversation_id, workspace_id=WORKSPACE,
              customer_id=customer_id, channel=channel, status=status, last_seq=seq,
              metadata=metadata, created_at=start, updated_at=at)  # fmt: skip
    for m in messages:
        batch.add("messages", conversation_id=conversation_id, **m)
    if inbox:
        batch.add("inbox_conversations", conversation_id=conversation_id,
                  workspace_id=WORKSPACE, **inbox)  # fmt: skip
    return asked


async def seed(db: Any, turns: int, per_conversation: int, days: int, now: datetime) -> None:
    rng = random.Random(15)
    done, started = 0, time.perf_counter()
    span = days * 86400
    while done < turns:
        batch = Batch()
        while len(batch) < BATCH and done < turns:
            start = now - timedelta(days=4, seconds=rng.randrange(span))
            done += add_conversation(batch, rng, start, min(per_conversation, turns - done))
        await batch.write(db)
        print(f"  seeded {done:,} turns ({time.perf_counter() - started:.0f} s)", flush=True)


async def roll_up(db: Any, since: datetime | None, window: timedelta, now: datetime) -> None:
    """The backfill after seeding: what the worker does after migration 0031 (``since``:
    only the conversations the timed ranges need, as a report does first), then the daily
    sums of the settled days (migration 0036), as the worker does after each roll-up."""
    started, total = time.perf_counter(), 0
    while written := await analytics_rollup.catch_up(db, WORKSPACE, limit=20_000, since=since):
        total += written
        took = time.perf_counter() - started
        print(f"  rolled up {total:,} conversations ({took:.0f} s, {total / took:,.0f}/s)",
              flush=True)  # fmt: skip
    started, days = time.perf_counter(), 0
    while summed := await analytics_daily.settle(db, window, now):
        days += summed
    print(f"  summed {days} settled days ({time.perf_counter() - started:.1f} s)", flush=True)


async def profile(store: Any, run: Any, days: int) -> None:
    """One run of ``run`` with the time of each query the store answered, slowest first."""
    spent: list[tuple[float, str]] = []
    methods = {name: getattr(store, name) for name in ("fetch", "fetchrow", "execute")}

    def timing(method: Any) -> Any:
        async def call(sql: str, *args: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(sql, *args)
            finally:
                spent.append((time.perf_counter() - started, " ".join(sql.split())))

        return call

    for name, method in methods.items():
        setattr(store, name, timing(method))
    try:
        started = time.perf_counter()
        await run()
        total = time.perf_counter() - started
    finally:
        for name in methods:
            delattr(store, name)
    print(f"profile of the {days}-day report: {total * 1000:,.0f} ms in all, "
          f"{sum(t for t, _ in spent) * 1000:,.0f} ms in {len(spent)} queries")  # fmt: skip
    for took, sql in sorted(spent, reverse=True):
        print(f"  {took * 1000:8.1f} ms  {sql[:150]}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite:////tmp/smartsupport-analytics-bench.db")
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--turns-per-conversation", type=int, default=4)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="reuse an already seeded database")
    parser.add_argument("--raw", action="store_true", help="also time the raw computation")
    parser.add_argument(
        "--profile", action="store_true", help="time each query of the 30- and 90-day reports"
    )
    parser.add_argument(
        "--backfill-days",
        type=int,
        help="roll up only the conversations started in the last N days (the ranges timed "
        "need no more; longer ranges are skipped); default: all",
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    store = await open_bench_store(args.database)
    try:
        count = await seeded(
            store,
            "SELECT COUNT(*) AS n FROM messages m JOIN conversations c ON c.id = "
            "m.conversation_id WHERE c.workspace_id = ? AND m.author = 'customer'",
        )
        if not (args.keep and count):
            print(f"seeding {args.turns:,} turns into {args.database.split('@')[-1]}")
            await seed(store, args.turns, args.turns_per_conversation, args.days, now)
        since = now - timedelta(days=args.backfill_days) if args.backfill_days else None
        window = timedelta(hours=72)
        await roll_up(store, since, window, now)
        if store.dialect == "postgresql":
            await analyze(
                store, [*analytics_rollup.TABLES, *analytics_daily.SUMS, "analytics_changes"]
            )

        def timed_report(days: int, build: Any = report, **extra: str) -> Any:
            filters = Filters(WORKSPACE, now - timedelta(days=days), now, **extra)

            async def run() -> str:
                body = await build(store, filters, window, now)
                t = body["totals"]
                return f"{t['conversations']:,} conversations, {t['turns']:,} turns"

            return run

        async def export() -> str:
            filters = Filters(WORKSPACE, now - timedelta(days=30), now)
            rows = 0
            async for page in csv_pages(store, filters, window, now):
                rows += sum(1 for f in page if csv_row(f))
            return f"{rows:,} rows"

        async def first_page() -> str:
            filters = Filters(WORKSPACE, now - timedelta(days=30), now)
            async for page in csv_pages(store, filters, window, now):
                return f"{sum(1 for f in page if csv_row(f)):,} rows"  # the first bytes sent
            return "0 rows"

        def covered(days: int) -> bool:  # a longer range would be answered from raw rows
            return not args.backfill_days or args.backfill_days > days

        if covered(30):
            await timed("report, last 30 days", args.repeat, timed_report(30))
        await timed("report, last 7 days", args.repeat, timed_report(7))
        if covered(30):
            await timed(
                "report, 30 days, intent=shipping", args.repeat, timed_report(30, intent="shipping")
            )
        if covered(90):
            await timed("report, last 90 days", args.repeat, timed_report(90))
        if covered(30):
            await timed("CSV export, first page (30 days)", args.repeat, first_page)
            await timed("CSV export, last 30 days", args.repeat, export)
        if args.raw:
            await timed("raw report, last 30 days", 1, timed_report(30, build=build_report))
        for days in (30, 90) if args.profile else ():
            if covered(days):
                await profile(store, timed_report(days), days)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
