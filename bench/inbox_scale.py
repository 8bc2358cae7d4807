"""How long the inbox's history and search take over many conversations (issue 16: the
target is <= 300 ms over 100,000 conversations on SQLite and PostgreSQL).

    python bench/inbox_scale.py --conversations 100000 --database sqlite:////tmp/inbox.db
    python bench/inbox_scale.py --conversations 100000 \\
        --database postgresql://postgres@127.0.0.1:5432/bench

Seeds a workspace ``bench`` with ``--conversations`` conversations of 2-8 messages each, in
the words of a shop's support chats (a few common words, a long tail of rare ones, order
numbers), customers with names and emails, a tenth of them returning customers, statuses,
agents, intents and tags; rows go in with the store's shared SQL in bulk batches
(``bench/seeding.py``, shared with bench/analytics_scale.py). Then it builds
the transcript index with the product's indexer (``inbox.search_index.catch_up``; its
throughput is printed) and times, ``--repeat`` times (best and median), the history page's
queries: newest first, the resolved view, a rare word, a common word, an order number, a
customer's email, a tag, an intent, an agent, a date range, and text plus filters combined;
the index catch-up every search runs first with nothing new; the conversation page's side
panel (a customer's past conversations); and the inbox's lists (``/inbox`` and its lists
fragment: the waiting queue, ``inbox.queue.waiting``, and ``inbox.api.queue_for``, the queue
plus the conversations an agent holds, each with the agent's unread count: read marks
half-way through every waiting or held conversation are written first). ``--keep`` reuses a
seeded and indexed database.

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
from smartsupport.ids import new_id  # noqa: E402
from smartsupport.inbox.api import queue_for  # noqa: E402
from smartsupport.inbox.queue import waiting  # noqa: E402
from smartsupport.inbox.search import SearchQuery, search  # noqa: E402
from smartsupport.inbox.search_index import catch_up  # noqa: E402
from smartsupport.services import Services  # noqa: E402
from smartsupport.staff.models import StaffUser  # noqa: E402
from smartsupport.workspaces import WorkspaceConfig  # noqa: E402

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


def add_conversation(batch: Batch, rng: random.Random, start: datetime, customer_id: str) -> None:
    """One conversation, its messages, its inbox row (half of the resolved or held ones)
    and its tags."""
    conversation_id = new_id()
    status = rng.choice(STATUSES)
    at = start
    count = rng.randint(2, 8)
    intent = rng.choice(INTENTS)
    for seq in range(1, count + 1):
        at += timedelta(seconds=rng.randint(5, 120))
        author = "customer" if seq % 2 else rng.choice(["bot", "bot", "agent"])
        meta = {"nlu": {"intent": intent, "confidence": 0.8}} if author == "customer" else {}
        batch.add("messages", id=new_id(), conversation_id=conversation_id, seq=seq,
                  author=author, text=words(rng, rng.randint(4, 25)), meta=meta,
                  created_at=at)  # fmt: skip
    channel = "email" if rng.random() < 0.15 else "web"
    batch.add("conversations", id=conversation_id, workspace_id=WORKSPACE,
              customer_id=customer_id, channel=channel, status=status, last_seq=count,
              metadata={}, created_at=start, updated_at=at)  # fmt: skip
    if status in ("resolved", "with_agent") and rng.random() < 0.5:
        agent = f"agent-{rng.randint(1, 40)}"
        batch.add("inbox_conversations", conversation_id=conversation_id,
                  workspace_id=WORKSPACE, agent_id=agent if status == "with_agent" else None,
                  assigned_at=at, resolved_by=agent if status == "resolved" else None,
                  updated_at=at)  # fmt: skip
    if status != "bot":  # the handoff's status event: the queue's "waiting since"
        batch.add("events", workspace_id=WORKSPACE, conversation_id=conversation_id,
                  type="conversation.status", created_at=at,
                  data={"status": "waiting_for_agent", "reason": "asked for a person"})  # fmt: skip
    for tag in rng.sample(TAGS, rng.randint(0, 2)):
        batch.add("conversation_tags", conversation_id=conversation_id,
                  workspace_id=WORKSPACE, tag=tag, created_at=at)  # fmt: skip


async def seed(db: Any, conversations: int, days: int, now: datetime) -> None:
    rng = random.Random(16)
    customers: list[str] = []
    done, started = 0, time.perf_counter()
    while done < conversations:
        batch = Batch()
        for _ in range(min(BATCH, conversations - done)):
            if customers and rng.random() < 0.1:
                customer_id = rng.choice(customers)  # a returning customer
            else:
                name = f"{rng.choice(FIRST)} {rng.choice(RARE).title()}"
                email = f"{name.split()[0].lower()}.{new_id()[:6]}@example.com"
                customer_id = new_id()
                customers.append(customer_id)
                batch.add("customers", id=customer_id, workspace_id=WORKSPACE, channel="web",
                          metadata={}, name=name, email=email, created_at=now)  # fmt: skip
            start = now - timedelta(seconds=rng.randrange(days * 86400))
            add_conversation(batch, rng, start, customer_id)
            done += 1
        await batch.write(db)
        print(
            f"  seeded {done:,} conversations ({time.perf_counter() - started:.0f} s)", flush=True
        )


async def time_pages(store: Any, repeat: int) -> None:
    """What the other inbox pages query: the catch-up every search runs first, the
    conversation page's side panel and the lists of ``/inbox`` (the queue, capped at
    ``queue.MAX_QUEUE``, and the conversations agent-7 holds, as that agent)."""
    # The lists read the store and the workspace's routing only: no backplane is touched.
    none: Any = None
    services = Services(
        settings=none,
        store=store,
        backplane=none,
        contexts=none,
        secret_key=b"",
        workspaces={WORKSPACE: WorkspaceConfig(id=WORKSPACE, name="Bench")},
    )
    agent = StaffUser("agent-7", "agent7@example.com", "Agent 7", "agent", [WORKSPACE])
    # Agent-7's read marks: half-way through every waiting or held conversation, so the
    # lists' unread counts (the queue's and "mine") join real marks. Kept with --keep.
    await store.execute(
        "INSERT INTO inbox_reads (conversation_id, staff_id, seq, updated_at) "
        "SELECT id, 'agent-7', last_seq / 2, ? FROM conversations "
        "WHERE workspace_id = ? AND status IN ('waiting_for_agent', 'with_agent') "
        "ON CONFLICT (conversation_id, staff_id) DO NOTHING",
        datetime.now(UTC),
        WORKSPACE,
    )
    if store.dialect == "postgresql":
        await analyze(store, ("inbox_reads",))  # as autovacuum would after such a load
    row = await store.fetchrow(
        "SELECT customer_id FROM conversations WHERE workspace_id = ? "
        "GROUP BY customer_id ORDER BY COUNT(*) DESC LIMIT 1",
        WORKSPACE,
    )
    customer_id = row["customer_id"] if row else "x"

    async def caught_up() -> str:
        return f"{await catch_up(store)} indexed"

    async def panel() -> str:
        query = SearchQuery(customer_id=customer_id, limit=11)
        return f"{len(await search(store, [WORKSPACE], query))} cards"

    async def queue() -> str:
        return f"{len(await waiting(services, [WORKSPACE]))} waiting"

    async def lists() -> str:
        found = await queue_for(services, agent)
        return f"{len(found['queue'])} waiting, {len(found['mine'])} held"

    async def queue_unread() -> str:  # the queue as the lists read it: with agent-7's counts
        found = await waiting(services, [WORKSPACE], reader=agent.id)
        return f"{sum(e.unread for e in found)} unread on {len(found)} cards"

    await timed("index catch-up, nothing new", repeat, caught_up)
    await timed("side panel, a customer's past", repeat, panel)
    await timed("queue (waiting, first 500)", repeat, queue)
    await timed("queue with unread counts", repeat, queue_unread)
    await timed("inbox lists (queue + held)", repeat, lists)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite:////tmp/smartsupport-inbox-bench.db")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse an already seeded database")
    args = parser.parse_args()
    now = datetime.now(UTC)
    store = await open_bench_store(args.database)
    try:
        count = await seeded(
            store, "SELECT COUNT(*) AS n FROM conversations WHERE workspace_id = ?"
        )
        if not (args.keep and count):
            print(f"seeding {args.conversations:,} conversations")
            await seed(store, args.conversations, args.days, now)
        started = time.perf_counter()
        indexed = await catch_up(store, batch=2000)
        took = time.perf_counter() - started
        if indexed:
            print(f"indexed {indexed:,} conversations in {took:.1f} s ({indexed / took:,.0f}/s)")
        if store.dialect == "postgresql":
            # Every table the pages read (autovacuum analyzes them all after such a load).
            loaded = ("customers", "conversations", "messages", "events", "inbox_conversations")
            await analyze(store, (*loaded, "conversation_search", "conversation_tags"))
        email = await store.fetchrow(
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
            "text, a word nobody used": SearchQuery(text="zanzibar"),
            "customer, a name nobody has": SearchQuery(customer="zanzibar"),
        }
        for label, query in cases.items():

            async def run(query: SearchQuery = query) -> str:
                cards = await search(store, [WORKSPACE], query)
                return f"{len(cards)} cards"

            await timed(label, args.repeat, run)
        await time_pages(store, args.repeat)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
