"""What the scale benchmarks share (bench/analytics_scale.py, bench/inbox_scale.py): opening
the store, knowing whether a kept database is already seeded, writing a batch of generated
rows in one transaction with the store's shared SQL (bulk ``executemany``, exactly the rows
the product stores), refreshing the planner's statistics after a bulk load, and timing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from smartsupport.domain import Workspace
from smartsupport.storage import open_store

WORKSPACE = "bench"

# The columns each generated row fills, per table (tables are written in this order, so a
# row's foreign keys exist before it).
COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "workspace_id", "channel", "metadata", "name", "email", "created_at"),
    "conversations": ("id", "workspace_id", "customer_id", "channel", "status", "last_seq",
                      "metadata", "created_at", "updated_at"),
    "messages": ("id", "conversation_id", "seq", "author", "text", "reply_to", "meta",
                 "created_at"),
    "events": ("workspace_id", "conversation_id", "type", "data", "created_at"),
    "answer_feedback": ("id", "workspace_id", "conversation_id", "message_id", "rating",
                        "reason", "source", "staff_id", "created_at"),
    "inbox_conversations": ("conversation_id", "workspace_id", "agent_id", "assigned_at",
                            "resolved_at", "resolved_by", "csat_rating", "updated_at"),
    "conversation_tags": ("conversation_id", "workspace_id", "tag", "created_at"),
}  # fmt: skip


class Batch:
    """Rows for one transaction, by table; ``add(table, **values)`` fills the other
    columns of ``COLUMNS[table]`` with NULL."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}

    def add(self, table: str, **values: Any) -> None:
        unknown = set(values) - set(COLUMNS[table])
        assert not unknown, f"{table} has no column {unknown}"
        self.rows[table].append(tuple(values.get(c) for c in COLUMNS[table]))

    def __len__(self) -> int:
        return len(self.rows["messages"])

    async def write(self, db: Any) -> None:
        async with db.transaction() as tx:
            for table, rows in self.rows.items():
                if rows:
                    columns = COLUMNS[table]
                    await tx.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' for _ in columns)})",
                        rows,
                    )
        self.rows = {t: [] for t in COLUMNS}


async def open_bench_store(url: str) -> Any:
    store = open_store(url)
    await store.connect()
    await store.migrate()
    await store.upsert_workspace(Workspace(WORKSPACE, "Bench"))
    return store


async def seeded(store: Any, sql: str) -> int:
    """The count ``sql`` (one ``n`` column, the workspace as its only parameter) gives."""
    row = await store.fetchrow(sql, WORKSPACE)
    return int(row["n"]) if row else 0


async def analyze(store: Any, tables: Sequence[str]) -> None:
    """What autovacuum does soon after a bulk load; without it the planner guesses."""
    for table in tables:
        await store.execute(f"ANALYZE {table}")


async def timed(label: str, repeat: int, run: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    """Run ``run`` ``repeat`` times; print and return the best and median seconds."""
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await run()
        seconds.append(time.perf_counter() - started)
    best, median = min(seconds), statistics.median(seconds)
    print(f"{label:<36} best {best * 1000:7.0f} ms   median {median * 1000:7.0f} ms   {result}")
    return {"label": label, "best_s": best, "median_s": median}
