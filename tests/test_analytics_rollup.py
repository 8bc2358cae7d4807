"""The rollup (migration 0031) gives exactly the raw computation's numbers, on SQLite and
PostgreSQL: the report and the CSV over random seeded data, before and after changes that
land after the rollup was built (a new turn, a rating, a CSAT, a re-contact that turns an
automated resolution into none, an erased conversation), with the daily sums of settled
days (migration 0036) in ranges that span summed and unsummed days, and after an erasure
and late changes inside summed days."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smartsupport import analytics_daily, analytics_rollup, analytics_sums
from smartsupport.analytics import Filters, walk
from smartsupport.analytics_report import CSV_COLUMNS, build_report, csv_row
from smartsupport.domain import Conversation, ConversationStatus, Customer, Workspace
from smartsupport.ids import new_id
from smartsupport.pacing import Pace
from smartsupport.storage import open_store
from tests.analyticskit import WORKSPACE, Seed

WINDOW = timedelta(hours=72)
INTENTS = ["shipping", "returns", "refund", None]
STEPS = ["extractive", "intent_response", "fallback", "llm:primary", "handoff", "faq"]
# Variants that count as one question, and more questions than the top 10 shows (ties at
# its edge too).
QUESTIONS = ["Gift cards?", "gift  cards", "Do you ship to Mars?", "do you ship to mars", "Hi"]
QUESTIONS += [f"Question number {i}?" for i in range(14)]
REASONS = ["customer asked for a human", "negative sentiment", "=1+1"]


def random_data_set(rng: random.Random, now: datetime) -> Seed:
    """Conversations over the last 20 days (some inside the re-contact window), returning
    customers, ties in start time, every kind of reply, rating, handoff and inbox row."""
    s = Seed()
    customers = [f"cust-{i}" for i in range(12)]
    starts: list[datetime] = []
    for _ in range(140):
        if starts and rng.random() < 0.1:
            start = rng.choice(starts)  # the same start: ties are ordered by id
        else:
            start = now - timedelta(
                seconds=rng.randrange(20 * 86400), milliseconds=rng.randrange(1000)
            )
        starts.append(start)
        customer = rng.choice(customers) if rng.random() < 0.5 else None
        usage = None
        if rng.random() < 0.3:
            usage = {"input_tokens": rng.randint(1, 900), "output_tokens": rng.randint(1, 99),
                     "cost": rng.random() / 97, "calls": 1}  # fmt: skip
        channel = "email" if rng.random() < 0.2 else "web"
        c = s.conversation(start, channel=channel, customer=customer, usage=usage)
        at = start
        for _turn in range(rng.choice([0, 1, 1, 2, 3])):
            at += timedelta(milliseconds=rng.randint(500, 90_000))
            intent = rng.choice(INTENTS)
            q = s.ask(c, rng.choice(QUESTIONS), at, intent=intent,
                      confidence=round(rng.random(), 3), language=rng.choice(["en", "de"]),
                      out_of_scope=intent is None and rng.random() < 0.6)  # fmt: skip
            if rng.random() < 0.1:
                continue  # no reply
            at += timedelta(milliseconds=rng.randint(10, 4000))
            step = rng.choice(STEPS)
            article = None
            if step in ("extractive", "llm:primary"):
                article = rng.choice([("art-1", "Shipping"), ("art-2", "Returns"),
                                      ("art-1", "Shipping (old title)")])  # fmt: skip
            reply = s.answer(c, q, at, step, article=article)
            if rng.random() < 0.25:
                s.rate(c, reply, rng.choice([1, -1]))
            if rng.random() < 0.05:
                s.rate(c, reply, -1, source="agent")
            if step == "handoff" or rng.random() < 0.1:
                s.status(c, "waiting_for_agent", rng.choice(REASONS), at)
                if rng.random() < 0.6:
                    at += timedelta(milliseconds=rng.randint(1000, 600_000))
                    s.say(c, "agent", "Hello, I am here.", at)
                    resolved = at + timedelta(milliseconds=rng.randint(1000, 900_000))
                    s.inbox_row(c, assigned_at=at, resolved_at=resolved,
                                csat_rating=rng.choice([None, 1, 2, 3, 4, 5]))  # fmt: skip
                break
        if rng.random() < 0.05 and not any(i[0] == c for i in s.inbox):
            s.inbox_row(c, csat_rating=rng.choice([1, 5]))
    return s


BACKENDS = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}


@pytest.fixture(params=list(BACKENDS))
def url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(BACKENDS[request.param])  # type: ignore[no-any-return]


@pytest.fixture
async def store(url: str) -> AsyncIterator[Any]:
    db = open_store(url)
    await db.connect()
    await db.migrate()
    await db.upsert_workspace(Workspace(WORKSPACE, "Demo"))
    try:
        yield db
    finally:
        await db.close()


def scopes(now: datetime) -> list[Filters]:
    month = now - timedelta(days=30)
    return [
        Filters(WORKSPACE, month, now),
        Filters(WORKSPACE, month, now, channel="email"),
        Filters(WORKSPACE, month, now, language="de"),
        Filters(WORKSPACE, month, now, intent="shipping"),
        Filters(WORKSPACE, month, now, channel="web", language="de"),  # no slice (0040)
        Filters(WORKSPACE, now - timedelta(days=9, hours=5), now - timedelta(days=2, minutes=7)),
    ]


async def assert_same(db: Any, now: datetime) -> None:
    for filters in scopes(now):
        raw = await build_report(db, filters, WINDOW, now)
        rolled = await analytics_sums.report(db, filters, WINDOW, now)
        assert rolled == raw, filters
        raw_rows = [csv_row(f) async for page in walk(db, filters, WINDOW, now) for f in page]
        rows = [
            csv_row(f)
            async for page in analytics_sums.csv_pages(db, filters, WINDOW, now)
            for f in page
        ]
        assert rows == raw_rows, filters
    assert await analytics_rollup.due(db, WORKSPACE) == 0


async def summed(db: Any) -> set[str]:
    rows = await db.fetch(
        "SELECT day FROM analytics_days WHERE workspace_id = ? AND window_us IS NOT NULL",
        WORKSPACE,
    )
    return {r["day"] for r in rows}


async def settle_and_compare(db: Any, now: datetime) -> set[str]:
    """Sum the settled days, check the 30-day report reads some of them from the sums and
    the rest from the rows, and that every report still equals the raw computation."""
    await analytics_daily.settle(db, WINDOW, now)
    days = await summed(db)
    month = Filters(WORKSPACE, now - timedelta(days=30), now)
    covered, spans = await analytics_daily.coverage(db, month, WINDOW, now)
    assert days and days <= set(covered) and spans, (days, spans)
    # The last days are not settled: every conversation in them is still within the window.
    assert max(days) < (now - WINDOW).date().isoformat()
    await assert_same(db, now)
    # Asked as of an earlier moment, the days not all decided then are read from the rows.
    earlier = now - timedelta(days=6, hours=7)
    past = Filters(WORKSPACE, now - timedelta(days=19), earlier)
    assert len((await analytics_daily.coverage(db, past, WINDOW, earlier))[0]) < len(
        (await analytics_daily.coverage(db, past, WINDOW, now))[0]
    )
    raw = await build_report(db, past, WINDOW, earlier)
    assert await analytics_sums.report(db, past, WINDOW, earlier) == raw
    return days


async def csv_by_id(db: Any, now: datetime) -> dict[str, dict[str, Any]]:
    filters = Filters(WORKSPACE, now - timedelta(days=30), now)
    out = {}
    async for page in analytics_sums.csv_pages(db, filters, WINDOW, now):
        for f in page:
            out[f.conversation_id] = dict(zip(CSV_COLUMNS, csv_row(f), strict=True))
    return out


async def test_rollup_equals_the_raw_computation_before_and_after_changes(store: Any) -> None:
    rng = random.Random(1531)
    now = datetime.now(UTC)
    seed = random_data_set(rng, now)
    await seed.write(store)
    assert await analytics_rollup.due(store, WORKSPACE) == len(
        [c for c in seed.conversations if c[1] == WORKSPACE]
    )
    await assert_same(store, now)  # the first report rolls everything up
    before = await csv_by_id(store, now)
    days = await settle_and_compare(store, now)
    # Another window: the sums are not used (the days are read from the rows) until the
    # worker sums them again for it.
    other = Filters(WORKSPACE, now - timedelta(days=30), now)
    assert await analytics_sums.report(store, other, WINDOW * 2, now) == await build_report(
        store, other, WINDOW * 2, now
    )

    # A re-contact: the customer of a decided automated resolution comes back 1 h after its
    # last message (an empty conversation: unknown topic, so it counts).
    resolved = [
        (cid, row) for cid, row in before.items()
        if row["automated_resolution"] == 1 and any(c[0] == cid and c[2].startswith("cust-")
                                                    for c in seed.conversations)
    ]  # fmt: skip
    assert resolved, "the random data set must hold a returning customer's resolution"
    target, _ = resolved[0]
    customer = next(c[2] for c in seed.conversations if c[0] == target)
    last = await store.fetchrow(
        "SELECT created_at AS at FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1",
        target,
    )
    later = Seed()
    back = last["at"] + timedelta(hours=1)
    returned = new_id()
    later.conversations.append(
        (returned, WORKSPACE, customer, "web", "bot", {"locale": "en"}, back, back)
    )
    await later.write(store)
    # A new turn in another conversation, a rating, a CSAT, an erased conversation.
    other = next(cid for cid in before if cid != target)
    seq = await store.fetchrow(
        "SELECT MAX(seq) AS seq FROM messages WHERE conversation_id = ?", other
    )
    question = new_id()
    await store.executemany(
        "INSERT INTO messages (id, conversation_id, seq, author, text, reply_to, meta, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (question, other, seq["seq"] + 1, "customer", "And gift cards?", None,
             {"nlu": {"intent": "refund", "confidence": 0.5, "out_of_scope": False}}, now),
            (new_id(), other, seq["seq"] + 2, "bot", "No.", question, {"step": "fallback"}, now),
        ],
    )  # fmt: skip
    bot = await store.fetchrow(
        "SELECT m.id, m.conversation_id FROM messages m WHERE m.author = 'bot' "
        "AND m.conversation_id <> ? AND NOT EXISTS (SELECT 1 FROM answer_feedback f "
        "WHERE f.message_id = m.id) LIMIT 1",
        target,
    )
    await store.execute(
        "INSERT INTO answer_feedback (id, workspace_id, conversation_id, message_id, rating, "
        "source, created_at) VALUES (?, ?, ?, ?, -1, 'customer', ?)",
        new_id(), WORKSPACE, bot["conversation_id"], bot["id"], now,
    )  # fmt: skip
    await store.execute("UPDATE inbox_conversations SET csat_rating = 1")
    # An erasure inside a summed day: the deletion clears that day's sums at once.
    erased = next(
        cid for cid in before
        if cid not in (target, other, bot["conversation_id"])
        and before[cid]["created_at"][:10] in days and before[cid]["customer_messages"]
    )  # fmt: skip
    erased_day = before[erased]["created_at"][:10]
    assert erased_day in await summed(store)
    await store.execute("DELETE FROM conversations WHERE id = ?", erased)
    assert erased_day not in await summed(store)
    assert await analytics_rollup.due(store, WORKSPACE) > 0

    await assert_same(store, now)
    await settle_and_compare(store, now)  # summed again, without the erased conversation
    after = await csv_by_id(store, now)
    assert after[target]["automated_resolution"] == 0 and after[target]["recontacted"] == 1
    assert erased not in after
    for table in analytics_rollup.TABLES:
        gone = await store.fetchrow(
            f"SELECT COUNT(*) AS n FROM {table} WHERE conversation_id = ?", erased
        )
        assert gone["n"] == 0, table

    # The re-contact is erased: the resolution counts again (the customer's next contact is
    # set again by the deletion, not by a later roll-up).
    await store.execute("DELETE FROM conversations WHERE id = ?", returned)
    await assert_same(store, now)
    await settle_and_compare(store, now)
    again = await csv_by_id(store, now)
    assert again[target]["recontacted"] == 0 and again[target]["automated_resolution"] == 1


async def test_the_workers_paced_rounds_roll_up_what_one_go_does(store: Any) -> None:
    """The worker rolls up in small rounds with rests between them (pacing.py)."""
    now = datetime.now(UTC)
    await random_data_set(random.Random(11), now).write(store)
    due = await analytics_rollup.due(store, WORKSPACE)
    rounds = []

    class Counted(Pace):
        async def rest(self) -> None:
            rounds.append(1)
            await super().rest()

    written = await analytics_rollup.catch_up(store, batch=7, pace=Counted(0.5))
    assert written == due and len(rounds) >= due // 7
    assert await analytics_rollup.due(store) == 0
    await assert_same(store, now)


async def test_a_report_while_the_backfill_runs_is_exact_from_the_raw_rows(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    await random_data_set(random.Random(7), now).write(store)
    monkeypatch.setattr(analytics_sums, "CATCH_UP", 10)  # far behind: the raw rows answer
    monkeypatch.setattr(analytics_rollup, "BATCH", 10)
    filters = Filters(WORKSPACE, now - timedelta(days=30), now)
    behind = await analytics_sums.report(store, filters, WINDOW, now)
    assert await analytics_rollup.due(store, WORKSPACE) > 0
    assert behind == await build_report(store, filters, WINDOW, now)
    # A recent range needs only the conversations started in it (and later ones): it is
    # served from the rollup while older ones still wait.
    monkeypatch.setattr(analytics_sums, "CATCH_UP", 5000)
    recent = Filters(WORKSPACE, now - timedelta(days=5), now)
    assert await analytics_sums.report(store, recent, WINDOW, now) == await build_report(
        store, recent, WINDOW, now
    )
    assert await analytics_rollup.due(store, WORKSPACE, since=recent.start) == 0
    assert await analytics_rollup.due(store, WORKSPACE) > 0
    await analytics_rollup.catch_up(store)  # what the worker does, until nothing is left
    assert await analytics_rollup.due(store) == 0
    assert await analytics_sums.report(store, filters, WINDOW, now) == behind


async def test_a_write_that_changes_no_fact_column_leaves_the_rollup_current(store: Any) -> None:
    customer = await store.create_customer(Customer(new_id(), WORKSPACE))
    conversation = await store.create_conversation(
        Conversation(new_id(), WORKSPACE, customer.id, metadata={"locale": "en"})
    )
    await analytics_rollup.catch_up(store, WORKSPACE)
    assert await analytics_rollup.due(store, WORKSPACE) == 0
    # A turn's write names status and metadata but leaves both as they were (0046).
    await store.record_turn(conversation.id, [], metadata={})
    assert await analytics_rollup.due(store, WORKSPACE) == 0
    await store.record_turn(conversation.id, [], status=ConversationStatus.WAITING)
    assert await analytics_rollup.due(store, WORKSPACE) == 1
    await analytics_rollup.catch_up(store, WORKSPACE)
    await store.record_turn(conversation.id, [], metadata={"priority": "high"})
    assert await analytics_rollup.due(store, WORKSPACE) == 1
