"""The analytics rollup (migration 0031): one row of facts per conversation, kept current
so the report sums rows in SQL instead of reading every turn (docs/analytics.md, "Scale").

    catch_up(store)     recompute every conversation whose change counter is ahead of the
                        one its rollup was built from; the worker runs it every pass and
                        the report runs it before reading
    due(store, ws)      how many conversations of a workspace wait to be rolled up

Writers know nothing of this: triggers on the tables the facts are read from (messages,
status events, inbox rows, ratings, the conversation itself) raise
``analytics_changes.changed`` in the writer's own transaction. A conversation's rollup is
computed by the same code as the raw report (``analytics.page_facts``), so the two cannot
disagree. The one fact that depends on other conversations, re-contact, is stored as the
start of the customer's next contact (``next_us``, migration 0032), set again for every row
of a customer whenever one of their conversations is rolled up or deleted; the report
compares it with the window, and the facts that depend on the clock (pending, decided) are
read at report time (``analytics_sums``).

Several processes may catch up at once: each writes a conversation only if its rollup is
older than the counter it read (``rolled < changed``, checked under a row lock), so a slow
process never overwrites a newer row with an older one; on PostgreSQL the customers' next
contacts are set under a per-customer transaction lock, so two processes rolling up two
conversations of one customer never each miss the other's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from smartsupport.analytics import page_facts
from smartsupport.analytics_facts import Facts, resolvable
from smartsupport.analytics_report import bucket, millis, nanos, question_key
from smartsupport.pacing import Pace, rest
from smartsupport.storage.base import SqlDatabase, SqlExecutor
from smartsupport.storage.fields import FieldCipher

BATCH = 50  # conversations per transaction (SQLite's one connection: ~30 ms each, not 0.3 s)
PACED_BATCH = 10  # the worker's rounds: a few ms each on the event loop (pacing.py)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TABLES = (
    "analytics_rollup",
    "analytics_rollup_turns",
    "analytics_rollup_questions",
    "analytics_rollup_articles",
)
ROLLUP_COLUMNS = (
    "conversation_id", "workspace_id", "customer_id", "created_us", "last_us", "day",
    "channel", "language", "intent", "status", "customer_messages", "answered_turns",
    "fallback_turns", "out_of_scope_turns", "bot_answers", "escalated", "escalation_reason",
    "agent_replied", "abandoned", "thumbs_up", "thumbs_down", "agent_flags", "csat",
    "resolvable", "first_response_bot_ms", "first_response_human_ms", "resolution_ms",
    "handle_ms", "settled_ms", "llm_input_tokens", "llm_output_tokens", "llm_cost",
    "llm_cost_nanos",
)  # fmt: skip
FILTER_COLUMNS = ("workspace_id", "created_us", "channel", "language", "intent")
# The start of the customer's earliest later conversation on the same or an unknown topic
# (the raw report's re-contact rule, analytics_facts), for every row of some customers.
NEXT_CONTACT = """UPDATE analytics_rollup SET next_us = (
    SELECT MIN(o.created_us) FROM analytics_rollup o
    WHERE o.customer_id = analytics_rollup.customer_id
      AND o.conversation_id <> analytics_rollup.conversation_id
      AND o.created_us > analytics_rollup.created_us
      AND (analytics_rollup.intent IS NULL OR o.intent IS NULL
           OR o.intent = analytics_rollup.intent))
WHERE customer_id IN ({marks})"""
DETAIL_COLUMNS = {
    "analytics_rollup_turns": ("conversation_id", "label", "bucket", "turns", "first_turn"),
    "analytics_rollup_questions": ("conversation_id", "turn", "question", "message_id"),
    "analytics_rollup_articles": ("conversation_id", "article_id", "title", "answers", "up",
                                  "down"),
}  # fmt: skip


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: instants as integers, compared and added exactly."""
    return (moment - EPOCH) // (EPOCH.resolution)


def moment(us: int) -> datetime:
    return EPOCH + us * EPOCH.resolution


def question_hash(fields: FieldCipher, text: str) -> str:
    """What the rollup stores of an unanswered question: a hash of its ``question_key``
    (keyed when field encryption is on, so no text and no guessable digest is stored)."""
    key = question_key(text)
    if fields.keyring is not None:
        return fields.keyring.blind("analytics_question", key)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else millis(seconds)


def rollup_row(f: Facts, workspace_id: str, customer_id: str) -> tuple[Any, ...]:
    last = f.last_at or f.created_at
    settled = max(0.0, round((last - f.created_at).total_seconds(), 3))
    return (
        f.conversation_id, workspace_id, customer_id, micros(f.created_at), micros(last),
        f.created_at.date().isoformat(), f.channel, f.language, f.intent, f.status,
        f.customer_messages, f.answered_turns, f.fallback_turns, f.out_of_scope_turns,
        f.bot_answers, int(f.escalated), f.escalation_reason, int(f.agent_replied),
        int(f.abandoned), f.thumbs_up, f.thumbs_down, f.agent_flags, f.csat,
        int(resolvable(f)), _ms(f.first_response_bot_s), _ms(f.first_response_human_s),
        _ms(f.resolution_s), _ms(f.handle_s), millis(settled), f.llm_input_tokens,
        f.llm_output_tokens, f.llm_cost, nanos(f.llm_cost),
    )  # fmt: skip


def detail_rows(f: Facts, fields: FieldCipher) -> dict[str, list[tuple[Any, ...]]]:
    """The per-turn (intent x confidence), unanswered-question and article rows of one
    conversation, without the filter columns (added by the caller)."""
    heat: dict[tuple[str, int], list[int]] = {}  # (label, bucket) -> [turns, first turn]
    questions = []
    for i, turn in enumerate(f.turns):
        label = turn.intent or ("(out of scope)" if turn.out_of_scope else "(no intent)")
        heat.setdefault((label, bucket(turn.confidence)), [0, i])[0] += 1
        if (turn.fallback or turn.out_of_scope) and turn.text:
            questions.append((i, question_hash(fields, turn.text), turn.message_id))
    articles: dict[str, list[Any]] = {}  # article id -> [title, answers, up, down]
    for answer in f.answers:
        for article_id, title in answer.articles:
            seen = articles.setdefault(article_id, [title, 0, 0, 0])
            seen[1] += 1
            seen[2] += answer.up
            seen[3] += answer.down
    c = f.conversation_id
    return {
        "analytics_rollup_turns": [(c, k[0], k[1], v[0], v[1]) for k, v in heat.items()],
        "analytics_rollup_questions": [(c, *q) for q in questions],
        "analytics_rollup_articles": [(c, a, *v) for a, v in articles.items()],
    }


def _db(store: object) -> SqlDatabase:
    return cast(SqlDatabase, store)


def _marks(values: Iterable[Any]) -> str:
    return ", ".join("?" for _ in values)


def _due_sql(
    columns: str, workspace_id: str | None, since: datetime | None
) -> tuple[str, list[Any]]:
    """The conversations waiting to be rolled up, of one workspace or all; ``since``: only
    those started then or later (what a report of a range starting then depends on: the
    conversations in it, and the later ones that may be their re-contacts)."""
    args: list[Any] = []
    if since is not None:
        # From the conversations started since (their range index), not from every waiting
        # one: during a backfill most wait, and are older. CROSS JOIN keeps SQLite's order.
        sql = (
            f"SELECT {columns} FROM conversations c CROSS JOIN analytics_changes ch "
            "WHERE ch.conversation_id = c.id AND c.created_at >= ? AND ch.changed > ch.rolled"
        )
        args.append(since)
        if workspace_id:
            sql += " AND c.workspace_id = ?"
            args.append(workspace_id)
        return sql, args
    sql = f"SELECT {columns} FROM analytics_changes ch WHERE ch.changed > ch.rolled"
    if workspace_id:
        sql += " AND ch.workspace_id = ?"
        args.append(workspace_id)
    return sql, args


async def due(
    store: object, workspace_id: str | None = None, *, since: datetime | None = None
) -> int:
    """How many conversations (of one workspace, or all; started ``since``) wait to be
    rolled up."""
    sql, args = _due_sql("COUNT(*) AS n", workspace_id, since)
    row = await _db(store).fetchrow(sql, *args)
    return int(row["n"]) if row else 0


async def catch_up(
    store: object,
    workspace_id: str | None = None,
    *,
    limit: int | None = None,
    since: datetime | None = None,
    batch: int | None = None,
    pace: Pace | None = None,
) -> int:
    """Roll up the conversations that changed (of one workspace, or all; started ``since``),
    ``batch`` (``BATCH``) per transaction, at most about ``limit``; returns how many were
    written. The worker's runs rest between transactions (``pace``)."""
    db = _db(store)
    batch = BATCH if batch is None else batch
    sql, args = _due_sql("ch.conversation_id, ch.changed", workspace_id, since)
    written = 0
    while limit is None or written < limit:
        await rest(pace)
        seen = await db.fetch(f"{sql} LIMIT ?", *args, batch)
        if not seen:
            break
        counters = {r["conversation_id"]: r["changed"] for r in seen}
        # The counters are read before the rows: a change that lands meanwhile is either in
        # what is read (and rolled up again later, harmlessly) or raises the counter.
        rows = await db.fetch(
            "SELECT id, workspace_id, customer_id, channel, status, metadata, created_at "
            f"FROM conversations WHERE id IN ({_marks(counters)})",
            *counters,
        )
        facts = await page_facts(db, rows, datetime.now(UTC)) if rows else []
        written += await _write(db, counters, rows, facts)
        if len(seen) < batch:
            break
    return written


async def _write(
    db: SqlDatabase, counters: dict[str, int], rows: list[dict[str, Any]], facts: list[Facts]
) -> int:
    ids = sorted(counters)
    lock = ""
    if db.dialect == "postgresql":
        # In id order, the conversation's key too: an erasure deleting it waits for us (or
        # we for it) instead of both waiting on each other.
        lock = " ORDER BY ch.conversation_id FOR UPDATE OF ch FOR KEY SHARE OF c"
    async with db.transaction() as tx:
        locked = await tx.fetch(
            "SELECT ch.conversation_id, ch.rolled FROM analytics_changes ch "
            "JOIN conversations c ON c.id = ch.conversation_id "
            f"WHERE ch.conversation_id IN ({_marks(ids)}){lock}",
            *ids,
        )
        fresh = {
            r["conversation_id"] for r in locked if r["rolled"] < counters[r["conversation_id"]]
        }
        if not fresh:
            return 0
        marks = _marks(fresh)
        # The customers whose next contacts this changes: the rows' customers now, and
        # before (a conversation that moved to an identified customer).
        before = await tx.fetch(
            f"SELECT DISTINCT customer_id FROM analytics_rollup WHERE conversation_id IN ({marks})",
            *fresh,
        )
        customers = sorted(
            {r["customer_id"] for r in before}
            | {r["customer_id"] for r in rows if r["id"] in fresh}
        )
        if db.dialect == "postgresql":
            for customer in customers:  # in order: two batches never wait on each other
                await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 31))", customer)
        for table in TABLES:
            await tx.execute(f"DELETE FROM {table} WHERE conversation_id IN ({marks})", *fresh)
        await _insert(tx, [(r, f) for r, f in zip(rows, facts, strict=True) if r["id"] in fresh])
        await tx.execute(NEXT_CONTACT.format(marks=_marks(customers)), *customers)
        await tx.executemany(
            "UPDATE analytics_changes SET rolled = ? WHERE conversation_id = ?",
            [(counters[i], i) for i in sorted(fresh)],
        )
    return len(fresh)


async def _insert(tx: SqlExecutor, pairs: list[tuple[dict[str, Any], Facts]]) -> None:
    details: dict[str, list[tuple[Any, ...]]] = {t: [] for t in DETAIL_COLUMNS}
    rollups = []
    for row, f in pairs:
        rollups.append(rollup_row(f, row["workspace_id"], row["customer_id"]))
        filters = (row["workspace_id"], micros(f.created_at), f.channel, f.language, f.intent)
        for table, found in detail_rows(f, tx.fields).items():
            details[table] += [(*d, *filters) for d in found]
    await tx.executemany(
        f"INSERT INTO analytics_rollup ({', '.join(ROLLUP_COLUMNS)}) "
        f"VALUES ({_marks(ROLLUP_COLUMNS)})",
        rollups,
    )
    for table, columns in DETAIL_COLUMNS.items():
        if details[table]:
            names = (*columns, *FILTER_COLUMNS)
            await tx.executemany(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({_marks(names)})",
                details[table],
            )
