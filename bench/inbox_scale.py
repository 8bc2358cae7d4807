"""How long the inbox's history and search take over many conversations (issue 16: the
target is <= 300 ms over 100,000 conversations on SQLite and PostgreSQL).

    python bench/inbox_scale.py --conversations 100000 --database sqlite:////tmp/inbox.db
    python bench/inbox_scale.py --conversations 100000 \\
        --database postgresql://postgres@127.0.0.1:5432/bench

Seeds a workspace ``bench`` with ``--conversations`` conversations of 2-8 messages each, in
the words of a shop's support chats (a few common words, a long tail of rare ones, order
numbers), customers with names and emails, a tenth of them returning customers, statuses,
agents, intents and tags; rows go in with the store's shared SQL in batches. Then it builds
the transcript index with the product's indexer (``inbox.search_index.catch_up``; its
throughput is printed) and times, ``--repeat`` times (best and median), the history page's
queries: newest first, the resolved view, a rare word, a common word, an order number, a
customer's email, a tag, an intent, an agent, a date range, and text plus filters combined.
``--keep`` reuses a seeded and indexed database.

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

from smartsupport.domain import Workspace  # noqa: E402
from smartsupport.ids import new_id  # noqa: E402
from smartsupport.inbox.search import SearchQuery, search  # noqa: E402
from smartsupport.inbox.search_index import catch_up  # noqa: E402
from smartsupport.storage import open_store  # noqa: E402

WORKSPACE = "bench"
COMMON = "order my where is the refund please hi thanks shipping delivery return".split()
INTENTS = ["shipping", "returns", "refund", "order_status", "payment", "account", None]
STATUSES = ["resolved"] * 7 + ["bot"] * 2 + ["waiting_for_agent", "with_agent"]
TAGS = ["vip", "damaged", "late", "billing", "bug:checkout", "fraud"]
FIRST = "Ana Ben Chloé Dmitri Emma Felix Grace Hiro Inès Jonas Kofi Lena Mia Noah Olga".split()
RARE = [f"{a}{b}" for a in "bcdfgklmnprstvz" for b in ("ola", "ex", "ivo", "umba", "ark")]
BATCH = 2000


def words(rng: random.Random, n: int) -> str:
    out = [rng.choice(COMMON) if rng.random() < 0.6 else rng.choice(RARE) for _ in range(n)]
    if rng.random() < 0.3:
        out.append(f"ORD-{rng.randint(10000, 99999)}")
    return " ".join(out)


def conversation_rows(
    rng: random.Random, start: datetime, customer: tuple[Any, ...]
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], tuple[Any, ...] | None, list[tuple[Any, ...]]]:
    """One conversation, its messages, its inbox row (or None) and its tags."""
    conversation_id = new_id()
    status = rng.choice(STATUSES)
    messages, at = [], start
    count = rng.randint(2, 8)
    intent = rng.choice(INTENTS)
    for seq in range(1, count + 1):
        at += timedelta(seconds=rng.randint(5, 120))
        author = "customer" if seq % 2 else rng.choice(["bot", "bot", "agent"])
        meta = {"nlu": {"intent": intent, "confidence": 0.8}} if author == "customer" else {}
        messages.append(
            (new_id(), conversation_id, seq, author, words(rng, rng.randint(4, 25)), meta, at)
        )
    channel = "email" if rng.random() < 0.15 else "web"
    row = (conversation_id, WORKSPACE, customer[0], channel, status, count, at, start, at)
    inbox = None
    if status in ("resolved", "with_agent") and rng.random() < 0.5:
        agent = f"agent-{rng.randint(1, 40)}"
        holder = agent if status == "with_agent" else None
        closer = agent if status == "resolved" else None
        inbox = (conversation_id, WORKSPACE, holder, at, closer, at)
    tags = [(conversation_id, WORKSPACE, t, at) for t in rng.sample(TAGS, rng.randint(0, 2))]
    return row, messages, inbox, tags


async def seed(db: Any, conversations: int, days: int, now: datetime) -> None:
    rng = random.Random(16)
    await db.upsert_workspace(Workspace(WORKSPACE, "Bench"))
    customers: list[tuple[Any, ...]] = []
    done, started = 0, time.perf_counter()
    while done < conversations:
        new_customers, rows, messages, inbox, tags = [], [], [], [], []
        while len(rows) < BATCH and done < conversations:
            if customers and rng.random() < 0.1:
                customer = rng.choice(customers)  # a returning customer
            else:
                name = f"{rng.choice(FIRST)} {rng.choice(RARE).title()}"
                email = f"{name.split()[0].lower()}.{new_id()[:6]}@example.com"
                customer = (new_id(), WORKSPACE, name, email, now)
                customers.append(customer)
                new_customers.append(customer)
            start = now - timedelta(seconds=rng.randrange(days * 86400))
            row, made, inbox_row, tag_rows = conversation_rows(rng, start, customer)
            rows.append(row)
            messages += made
            tags += tag_rows
            if inbox_row:
                inbox.append(inbox_row)
            done += 1
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO customers (id, workspace_id, channel, metadata, name, email, "
                "created_at) VALUES (?, ?, 'web', '{}', ?, ?, ?)",
                new_customers,
            )
            await tx.executemany(
                "INSERT INTO conversations (id, workspace_id, customer_id, channel, status, "
                "last_seq, metadata, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?)",
                [(r[0], r[1], r[2], r[3], r[4], r[5], r[7], r[8]) for r in rows],
            )
            await tx.executemany(
                "INSERT INTO messages (id, conversation_id, seq, author, text, meta, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                messages,
            )
            if inbox:
                await tx.executemany(
                    "INSERT INTO inbox_conversations (conversation_id, workspace_id, agent_id, "
                    "assigned_at, resolved_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    inbox,
                )
            if tags:
                await tx.executemany(
                    "INSERT INTO conversation_tags (conversation_id, workspace_id, tag, "
                    "created_at) VALUES (?, ?, ?, ?)",
                    tags,
                )
        print(
            f"  seeded {done:,} conversations ({time.perf_counter() - started:.0f} s)", flush=True
        )


async def timed(label: str, repeat: int, run: Any) -> dict[str, Any]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await run()
        seconds.append(time.perf_counter() - started)
    best, median = min(seconds), statistics.median(seconds)
    print(f"{label:<36} best {best * 1000:7.0f} ms   median {median * 1000:7.0f} ms   {result}")
    return {"label": label, "best_s": best, "median_s": median}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite:////tmp/smartsupport-inbox-bench.db")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse an already seeded database")
    args = parser.parse_args()
    now = datetime.now(UTC)
    store = open_store(args.database)
    await store.connect()
    try:
        await store.migrate()
        seeded = await store.fetchrow(  # type: ignore[attr-defined]
            "SELECT COUNT(*) AS n FROM conversations WHERE workspace_id = ?", WORKSPACE
        )
        if not (args.keep and seeded and seeded["n"]):
            print(f"seeding {args.conversations:,} conversations")
            await seed(store, args.conversations, args.days, now)
        started = time.perf_counter()
        indexed = await catch_up(store, batch=2000)
        took = time.perf_counter() - started
        if indexed:
            print(f"indexed {indexed:,} conversations in {took:.1f} s ({indexed / took:,.0f}/s)")
        if store.dialect == "postgresql":  # type: ignore[attr-defined]
            # What autovacuum does soon after a bulk load; without it the planner guesses.
            for table in ("conversations", "conversation_search", "conversation_tags"):
                await store.execute(f"ANALYZE {table}")  # type: ignore[attr-defined]
        email = await store.fetchrow(  # type: ignore[attr-defined]
            "SELECT cu.email FROM customers cu WHERE cu.workspace_id = ? LIMIT 1", WORKSPACE
        )
        cases = {
            "history, newest first": SearchQuery(),
            "resolved view": SearchQuery(status="resolved"),
            "text, a rare word": SearchQuery(text=RARE[7]),
            "text, a common word": SearchQuery(text="refund"),
            "text, two words": SearchQuery(text=f"delivery {RARE[3]}"),
            "text, an order number": SearchQuery(text="ORD-12345"),
            "customer email": SearchQuery(customer=email["email"] if email else "x"),
            "tag": SearchQuery(tag="fraud"),
            "intent": SearchQuery(intent="payment"),
            "agent": SearchQuery(agent="agent-7"),
            "last 7 days": SearchQuery(since=now - timedelta(days=7)),
            "text + status + channel": SearchQuery(
                text="refund", status="resolved", channel="email"
            ),
            "odd characters": SearchQuery(text="\"'*%_:( NEAR"),
        }
        for label, query in cases.items():

            async def run(query: SearchQuery = query) -> str:
                cards = await search(store, [WORKSPACE], query)  # type: ignore[arg-type]
                return f"{len(cards)} cards"

            await timed(label, args.repeat, run)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
