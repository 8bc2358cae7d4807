"""How many messages per second a store takes with many conversations active at once.

    .venv/bin/python bench/store_bench.py [--conversations 1000] [--seconds 10]
        [--url sqlite:////tmp/bench.db] [--url postgresql://postgres@127.0.0.1:5432/test]

Each conversation is one task doing what a turn does to the store: append the customer's
message, read the recent history, append the bot's reply (a reply_to with meta) and log an
event. It reports appended messages per second and the p50/p99 latency of one append.
PostgreSQL runs in a throw-away schema.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from smartsupport.domain import Author, Conversation, Customer, Workspace
from smartsupport.ids import new_id
from smartsupport.storage import open_store

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


async def run(url: str, conversations: int, seconds: float) -> dict[str, float]:
    store = open_store(url)
    await store.connect()
    try:
        await store.migrate()
        await store.upsert_workspace(Workspace(id="bench", name="Bench"))
        ids = []
        for _ in range(conversations):
            customer = await store.create_customer(Customer(id=new_id(), workspace_id="bench"))
            conversation = Conversation(id=new_id(), workspace_id="bench", customer_id=customer.id)
            ids.append((await store.create_conversation(conversation)).id)

        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def talk(conversation_id: str) -> int:
            appended = 0
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                question = await store.append_message(
                    conversation_id, Author.CUSTOMER, "where is my order #1234?", client_id=new_id()
                )
                latencies.append(time.perf_counter() - started)
                await store.list_messages(conversation_id, after=max(0, question.seq - 10))
                await store.append_message(
                    conversation_id,
                    Author.BOT,
                    "It shipped yesterday.",
                    reply_to=question.id,
                    meta={"intent": "order_status", "confidence": 0.93},
                )
                await store.add_event("bench", "turn", {"ms": 12}, conversation_id=conversation_id)
                appended += 2
            return appended

        started = time.perf_counter()
        counts = await asyncio.gather(*(talk(c) for c in ids))
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    latencies.sort()
    return {
        "messages_per_s": sum(counts) / elapsed,
        "append_p50_ms": statistics.median(latencies) * 1000,
        "append_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", help="database URL (repeatable)")
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = args.url or [f"sqlite:///{Path(tmp) / 'bench.db'}", DEFAULT_PG]
        for url in urls:
            schema = None
            if url.startswith("postgres"):
                url, schema = await _pg_schema(url)
            try:
                result = await run(url, args.conversations, args.seconds)
            finally:
                if schema:
                    await _pg_drop(url, schema)
            print(
                f"{url.split('://')[0]:<10} {args.conversations} conversations: "
                f"{result['messages_per_s']:8.0f} messages/s, append p50 "
                f"{result['append_p50_ms']:.1f} ms, p99 {result['append_p99_ms']:.1f} ms"
            )


async def _pg_schema(url: str) -> tuple[str, str]:
    import asyncpg

    schema = "bench_" + uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}search_path={schema}", schema


async def _pg_drop(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.split("?")[0])
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
