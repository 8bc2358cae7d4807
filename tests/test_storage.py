"""The Store contract, run against every backend (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import pytest

from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Workspace,
    utcnow,
)
from smartsupport.errors import (
    BackendError,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    NotFound,
)
from smartsupport.ids import new_id
from smartsupport.storage import open_store
from smartsupport.storage.base import SqlDatabase, Store
from smartsupport.storage.migrator import discover, split_sqlite_script
from smartsupport.storage.pg_sql import numbered

# backend -> the conftest fixture giving a fresh database URL for it
BACKENDS = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}


@pytest.fixture(params=list(BACKENDS))
def url(request) -> str:
    return request.getfixturevalue(BACKENDS[request.param])


@pytest.fixture
async def store(url):
    store = open_store(url)
    await store.connect()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def conversation(store: Store) -> Conversation:
    await store.upsert_workspace(Workspace(id="acme", name="Acme"))
    customer = await store.create_customer(Customer(id=new_id(), workspace_id="acme"))
    return await store.create_conversation(
        Conversation(id=new_id(), workspace_id="acme", customer_id=customer.id)
    )


def dialect_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


# -- lifecycle and migrations --------------------------------------------------------------
async def test_migrate_applies_every_shipped_version_once(url):
    store = open_store(url)
    await store.connect()
    try:
        shipped = [m.version for m in discover(dialect_of(url))]
        assert await store.schema_version() == 0
        assert await store.pending_migrations() == shipped
        assert await store.migrate() == shipped
        assert await store.migrate() == []
        assert await store.schema_version() == shipped[-1]
        assert await store.pending_migrations() == []
        await store.ping()
    finally:
        await store.close()


async def test_two_processes_migrating_at_once_apply_each_version_once(url):
    first, second = open_store(url), open_store(url)
    await first.connect()
    await second.connect()
    try:
        applied = await asyncio.gather(first.migrate(), second.migrate())
        shipped = [m.version for m in discover(dialect_of(url))]
        assert sorted(applied[0] + applied[1]) == shipped
        assert isinstance(first, SqlDatabase)
        rows = await first.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == shipped
    finally:
        await first.close()
        await second.close()


async def test_a_closed_store_raises_a_clear_error(store: Store):
    await store.close()
    await store.close()  # safe twice
    with pytest.raises(BackendError, match="closed"):
        await store.get_workspace("acme")


async def test_unknown_scheme_names_the_known_ones():
    with pytest.raises(ConfigurationError) as info:
        open_store("mysql://x")
    assert "sqlite://" in str(info.value) and "postgresql://" in str(info.value)


def test_missing_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    monkeypatch.delitem(sys.modules, "smartsupport.storage.postgres", raising=False)
    monkeypatch.delitem(sys.modules, "smartsupport.storage.pg_sql", raising=False)
    with pytest.raises(ConfigurationError, match=r"smartsupport\[postgres\]"):
        open_store("postgresql://x/y")


async def test_unreachable_postgres_is_backend_unavailable():
    store = open_store("postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(BackendUnavailable):
        await store.connect()


async def test_sqlite_urls_relative_absolute_and_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url, created in [
        ("sqlite:///nested/dir/rel.db", tmp_path / "nested/dir/rel.db"),
        (f"sqlite:///{tmp_path}/abs/x.db", tmp_path / "abs/x.db"),
        ("sqlite://:memory:", None),
    ]:
        store = open_store(url)
        await store.connect()
        try:
            await store.migrate()
            await store.upsert_workspace(Workspace(id="w", name="W"))
            assert [w.id for w in await store.list_workspaces()] == ["w"]
        finally:
            await store.close()
        if created is not None:
            assert created.is_file()
    with pytest.raises(ConfigurationError):
        open_store("sqlite://")


def test_sqlite_scripts_split_on_real_statement_ends():
    script = "-- a;comment\nCREATE TABLE t (x TEXT DEFAULT 'a;b');\nINSERT INTO t VALUES (';');\n"
    assert split_sqlite_script(script) == [
        "-- a;comment\nCREATE TABLE t (x TEXT DEFAULT 'a;b');",
        "INSERT INTO t VALUES (';');",
    ]


def test_postgres_placeholders_skip_literals_and_comments():
    sql = "SELECT '?', \"a?\", x -- why?\nFROM t WHERE a = ? AND b = ? /* ? */ AND c = $$?$$"
    assert numbered(sql) == (
        "SELECT '?', \"a?\", x -- why?\nFROM t WHERE a = $1 AND b = $2 /* ? */ AND c = $$?$$"
    )


# -- workspaces and customers --------------------------------------------------------------
async def test_workspace_upsert_replaces_name_and_config(store: Store):
    created = await store.upsert_workspace(Workspace(id="b", name="B", config={"tone": "warm"}))
    await store.upsert_workspace(Workspace(id="a", name="A"))
    updated = await store.upsert_workspace(Workspace(id="b", name="B2", config={"x": [1, 2]}))
    assert updated.name == "B2" and updated.config == {"x": [1, 2]}
    assert updated.created_at == created.created_at
    assert await store.get_workspace("b") == updated
    assert await store.get_workspace("missing") is None
    assert [w.id for w in await store.list_workspaces()] == ["a", "b"]


async def test_customers_create_find_update_and_external_id_conflict(store: Store):
    await store.upsert_workspace(Workspace(id="acme", name="Acme"))
    customer = Customer(id=new_id(), workspace_id="acme", external_id="u-1", name="Ann")
    await store.create_customer(customer)
    assert await store.get_customer(customer.id) == customer
    assert await store.find_customer("acme", "u-1") == customer
    assert await store.find_customer("acme", "u-2") is None

    with pytest.raises(Conflict):
        await store.create_customer(Customer(id=new_id(), workspace_id="acme", external_id="u-1"))
    # Anonymous customers never collide.
    for _ in range(2):
        await store.create_customer(Customer(id=new_id(), workspace_id="acme"))

    customer.email, customer.metadata, customer.segment = "ann@example.com", {"vip": True}, "gold"
    updated = await store.update_customer(customer)
    assert updated == customer == await store.get_customer(customer.id)
    with pytest.raises(NotFound):
        await store.update_customer(Customer(id=new_id(), workspace_id="acme"))
    with pytest.raises(NotFound):
        await store.create_customer(Customer(id=new_id(), workspace_id="nope"))


# -- conversations -------------------------------------------------------------------------
async def test_conversation_create_get_status_and_metadata_merge(store: Store, conversation):
    loaded = await store.get_conversation(conversation.id)
    assert loaded == conversation
    assert loaded.status is ConversationStatus.BOT and loaded.last_seq == 0
    assert loaded.created_at.utcoffset() == timedelta(0)
    assert await store.get_conversation("missing") is None

    waiting = await store.set_status(conversation.id, ConversationStatus.WAITING)
    assert waiting.status is ConversationStatus.WAITING
    assert waiting.updated_at >= conversation.updated_at

    await store.update_conversation_metadata(conversation.id, {"order": "A1", "lang": "de"})
    merged = await store.update_conversation_metadata(conversation.id, {"lang": None, "n": 2})
    assert merged.metadata == {"order": "A1", "n": 2}
    assert (await store.get_conversation(conversation.id)).metadata == merged.metadata

    with pytest.raises(NotFound):
        await store.set_status("missing", ConversationStatus.RESOLVED)
    with pytest.raises(NotFound):
        await store.update_conversation_metadata("missing", {"a": 1})


async def test_list_conversations_most_recent_first_with_status_filter(store: Store, conversation):
    second = await store.create_conversation(
        Conversation(id=new_id(), workspace_id="acme", customer_id=conversation.customer_id)
    )
    listed = await store.list_conversations("acme")
    assert [c.id for c in listed] == [second.id, conversation.id]

    await store.append_message(conversation.id, Author.CUSTOMER, "bump")
    assert [c.id for c in await store.list_conversations("acme")] == [conversation.id, second.id]
    assert [c.id for c in await store.list_conversations("acme", limit=1, offset=1)] == [second.id]

    await store.set_status(second.id, ConversationStatus.WAITING)
    waiting = await store.list_conversations("acme", status=ConversationStatus.WAITING)
    assert [c.id for c in waiting] == [second.id]
    assert await store.list_conversations("other") == []


# -- messages ------------------------------------------------------------------------------
async def test_append_message_numbers_densely_and_bumps_the_conversation(store, conversation):
    texts = ["hello", "how can I help?", "my order"]
    authors = [Author.CUSTOMER, Author.BOT, Author.CUSTOMER]
    stored = [
        await store.append_message(conversation.id, a, t)
        for a, t in zip(authors, texts, strict=True)
    ]
    assert [m.seq for m in stored] == [1, 2, 3]
    assert all(len(m.id) == 32 for m in stored)
    listed = await store.list_messages(conversation.id)
    assert listed == stored
    assert [m.author for m in listed] == authors
    bumped = await store.get_conversation(conversation.id)
    assert bumped.last_seq == 3
    assert bumped.updated_at == stored[-1].created_at

    with pytest.raises(NotFound):
        await store.append_message("missing", Author.CUSTOMER, "hi")


async def test_concurrent_appends_to_one_conversation_get_unique_dense_seqs(store, conversation):
    results = await asyncio.gather(
        *(store.append_message(conversation.id, Author.CUSTOMER, f"m{i}") for i in range(60))
    )
    assert sorted(m.seq for m in results) == list(range(1, 61))
    assert [m.seq for m in await store.list_messages(conversation.id)] == list(range(1, 61))
    assert (await store.get_conversation(conversation.id)).last_seq == 60


async def test_reused_client_id_conflicts_and_the_original_can_be_found(store, conversation):
    original = await store.append_message(conversation.id, Author.CUSTOMER, "hi", client_id="c1")
    with pytest.raises(Conflict):
        await store.append_message(conversation.id, Author.CUSTOMER, "hi again", client_id="c1")
    assert await store.get_message_by_client_id(conversation.id, "c1") == original
    assert await store.get_message_by_client_id(conversation.id, "c2") is None
    # The failed append used no sequence number.
    after = await store.append_message(conversation.id, Author.CUSTOMER, "next", client_id="c2")
    assert after.seq == 2
    assert (await store.get_conversation(conversation.id)).last_seq == 2


async def test_concurrent_retries_store_each_client_id_once_and_keep_seqs_dense(
    store, conversation
):
    # Many sends racing, each client id three times: exactly one of each wins, and the
    # losers (which may share a group commit with winners) leave no gaps.
    sends = [f"c{i % 10}" for i in range(30)]
    results = await asyncio.gather(
        *(store.append_message(conversation.id, Author.CUSTOMER, c, client_id=c) for c in sends),
        return_exceptions=True,
    )
    stored = [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert sorted(m.client_id for m in stored) == sorted({*sends})
    assert sorted(m.seq for m in stored) == list(range(1, 11))
    assert (await store.get_conversation(conversation.id)).last_seq == 10


async def test_list_messages_after_and_limit(store, conversation):
    for i in range(5):
        await store.append_message(conversation.id, Author.CUSTOMER, f"m{i}")
    assert [m.seq for m in await store.list_messages(conversation.id, after=2)] == [3, 4, 5]
    assert [m.seq for m in await store.list_messages(conversation.id, after=1, limit=2)] == [2, 3]
    assert await store.list_messages(conversation.id, after=5) == []


async def test_replies_and_meta_merge(store, conversation):
    question = await store.append_message(conversation.id, Author.CUSTOMER, "where is my order?")
    first = await store.append_message(
        conversation.id, Author.BOT, "let me check", reply_to=question.id, meta={"intent": "order"}
    )
    second = await store.append_message(
        conversation.id, Author.BOT, "shipped", reply_to=question.id
    )
    assert [m.id for m in await store.replies_to(question.id)] == [first.id, second.id]
    assert await store.replies_to(second.id) == []

    await store.update_message_meta(first.id, {"rating": 5, "tags": ["a"]})
    (stored,) = [m for m in await store.list_messages(conversation.id) if m.id == first.id]
    assert stored.meta == {"intent": "order", "rating": 5, "tags": ["a"]}
    with pytest.raises(NotFound):
        await store.update_message_meta("missing", {"a": 1})
    with pytest.raises(NotFound):
        await store.append_message(conversation.id, Author.BOT, "x", reply_to="missing")


async def test_unicode_and_html_are_stored_verbatim(store, conversation):
    text = "<script>alert('x')</script> Grüße 你好 👋🏽 \"quoted\" ; -- \\n\n\ttab"
    meta = {"emoji": "🎉", "html": "<b>&amp;</b>"}
    await store.append_message(conversation.id, Author.CUSTOMER, text, meta=meta)
    (message,) = await store.list_messages(conversation.id)
    assert message.text == text and message.meta == meta


# -- a whole turn --------------------------------------------------------------------------
def draft(conversation: Conversation, author: Author, text: str, **fields) -> Message:
    return Message(new_id(), conversation.id, 0, author, text, **fields)


async def test_record_turn_stores_messages_status_and_events_together(store, conversation):
    await store.append_message(conversation.id, Author.BOT, "greeting")
    question = draft(conversation, Author.CUSTOMER, "a person, please", client_id="c1",
                     meta={"nlu": {"intent": "human_agent"}})  # fmt: skip
    replies = [
        draft(conversation, Author.BOT, f"reply {i}", reply_to=question.id, meta={"n": i})
        for i in range(2)
    ]
    after = await store.record_turn(
        conversation.id,
        [question, *replies],
        status=ConversationStatus.WAITING,
        events=[("conversation.status", {"status": "waiting_for_agent"}), ("turn", {"ms": 1})],
    )
    assert [m.seq for m in (question, *replies)] == [2, 3, 4]
    assert after.last_seq == 4 and after.status is ConversationStatus.WAITING
    assert after.updated_at >= conversation.updated_at
    assert await store.get_conversation(conversation.id) == after
    listed = await store.list_messages(conversation.id, after=1)
    assert listed == [question, *replies]
    assert await store.replies_to(question.id) == replies
    assert await store.get_message_by_client_id(conversation.id, "c1") == question
    events = await store.list_events("acme", conversation_id=conversation.id)
    assert [(e.type, e.data) for e in events] == [
        ("conversation.status", {"status": "waiting_for_agent"}),
        ("turn", {"ms": 1}),
    ]
    assert events[0].id < events[1].id

    # Nothing to write but an event, the status unchanged.
    again = await store.record_turn(conversation.id, [], events=[("turn", {})])
    assert again.last_seq == 4 and again.status is ConversationStatus.WAITING


async def test_record_turn_stores_nothing_when_any_part_fails(store, conversation):
    await store.record_turn(conversation.id, [draft(conversation, Author.CUSTOMER, "hi",
                                                    client_id="c1")])  # fmt: skip
    reused = draft(conversation, Author.CUSTOMER, "hi again", client_id="c1")
    reply = draft(conversation, Author.BOT, "hello", reply_to=reused.id)
    with pytest.raises(Conflict):
        await store.record_turn(
            conversation.id, [reused, reply], status=ConversationStatus.RESOLVED,
            events=[("turn", {})],
        )  # fmt: skip
    orphan = draft(conversation, Author.BOT, "to nobody", reply_to="missing")
    with pytest.raises(NotFound):
        await store.record_turn(conversation.id, [orphan], events=[("turn", {})])
    with pytest.raises(NotFound):
        await store.record_turn("missing", [draft(conversation, Author.CUSTOMER, "x")])
    kept = await store.get_conversation(conversation.id)
    assert kept.last_seq == 1 and kept.status is ConversationStatus.BOT
    assert [m.text for m in await store.list_messages(conversation.id)] == ["hi"]
    assert await store.list_events("acme", conversation_id=conversation.id) == []


async def test_concurrent_turns_and_appends_keep_seqs_dense(store, conversation):
    def turn(i: int) -> list[Message]:
        question = draft(conversation, Author.CUSTOMER, f"q{i}")
        return [question, draft(conversation, Author.BOT, f"a{i}", reply_to=question.id)]

    turns = [turn(i) for i in range(20)]
    await asyncio.gather(
        *(store.record_turn(conversation.id, t) for t in turns),
        *(store.append_message(conversation.id, Author.AGENT, f"agent {i}") for i in range(10)),
    )
    assert [m.seq for m in await store.list_messages(conversation.id)] == list(range(1, 51))
    assert all(answer.seq == question.seq + 1 for question, answer in turns)


async def test_load_turn_reads_the_conversation_and_a_retried_message(store, conversation):
    assert await store.load_turn("missing", "c1") == (None, None)
    assert await store.load_turn(conversation.id, None) == (conversation, None)
    sent = await store.append_message(conversation.id, Author.CUSTOMER, "hi", client_id="c1")
    found, seen = await store.load_turn(conversation.id, "c1")
    assert seen == sent and found == await store.get_conversation(conversation.id)
    assert (await store.load_turn(conversation.id, "c2"))[1] is None


# -- events --------------------------------------------------------------------------------
async def test_events_have_increasing_ids_and_filter(store, conversation):
    before = utcnow() - timedelta(seconds=1)
    a = await store.add_event("acme", "message", {"n": 1}, conversation_id=conversation.id)
    b = await store.add_event("acme", "handoff", conversation_id=conversation.id)
    c = await store.add_event("acme", "message", {"n": 3})
    assert a.id < b.id < c.id

    assert [e.id for e in await store.list_events("acme")] == [a.id, b.id, c.id]
    assert [e.id for e in await store.list_events("acme", type="message")] == [a.id, c.id]
    by_conversation = await store.list_events("acme", conversation_id=conversation.id)
    assert [e.id for e in by_conversation] == [a.id, b.id]
    assert [e.id for e in await store.list_events("acme", after_id=a.id, limit=1)] == [b.id]
    assert len(await store.list_events("acme", since=before)) == 3
    assert await store.list_events("acme", since=utcnow() + timedelta(minutes=1)) == []
    assert (await store.list_events("acme"))[0].data == {"n": 1}
    assert await store.list_events("other") == []


# -- the shared-SQL helper -----------------------------------------------------------------
async def test_sql_helper_round_trips_types_with_question_mark_placeholders(store):
    db: SqlDatabase = store  # type: ignore[assignment]
    assert db.dialect == dialect_of(store.url)
    json_type = "JSON" if db.dialect == "sqlite" else "JSONB"
    await db.execute(
        f"CREATE TABLE kb_test (id TEXT PRIMARY KEY, body TEXT, doc {json_type}, "
        "at TIMESTAMPTZ, ok BOOLEAN)"
    )
    now = utcnow()
    changed = await db.execute(
        "INSERT INTO kb_test (id, body, doc, at, ok) VALUES (?, ?, ?, ?, ?)",
        "a", "what? '?'", {"k": [1, "ü"]}, now, True,
    )  # fmt: skip
    assert changed == 1
    await db.executemany(
        "INSERT INTO kb_test (id, body, doc, at, ok) VALUES (?, ?, ?, ?, ?)",
        [("b", "x", {}, now, False), ("c", "y", [1], now, True)],
    )
    row = await db.fetchrow("SELECT * FROM kb_test WHERE id = ? AND body <> '?'", "a")
    assert row == {"id": "a", "body": "what? '?'", "doc": {"k": [1, "ü"]}, "at": now, "ok": True}
    rows = await db.fetch("SELECT id, ok FROM kb_test WHERE ok = ? ORDER BY id", True)
    assert rows == [{"id": "a", "ok": True}, {"id": "c", "ok": True}]
    assert await db.fetchrow("SELECT id FROM kb_test WHERE id = ?", "zzz") is None
    with pytest.raises(Conflict):
        await db.execute("INSERT INTO kb_test (id) VALUES (?)", "a")


async def test_sql_helper_transactions_commit_or_roll_back(store):
    db: SqlDatabase = store  # type: ignore[assignment]
    await db.execute("CREATE TABLE kb_tx (id INTEGER PRIMARY KEY, v TEXT)")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO kb_tx (id, v) VALUES (?, ?)", 1, "one")
        await tx.executemany("INSERT INTO kb_tx (id, v) VALUES (?, ?)", [(2, "two"), (3, "x")])
        assert len(await tx.fetch("SELECT * FROM kb_tx")) == 3
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM kb_tx")
            assert await tx.fetchrow("SELECT count(*) AS n FROM kb_tx") == {"n": 0}
            raise RuntimeError("abort")
    with pytest.raises(Conflict):
        async with db.transaction() as tx:
            await tx.execute("UPDATE kb_tx SET v = ? WHERE id = ?", "uno", 1)
            await tx.execute("INSERT INTO kb_tx (id, v) VALUES (?, ?)", 2, "dup")
    rows = await db.fetch("SELECT id, v FROM kb_tx ORDER BY id")
    assert rows == [{"id": 1, "v": "one"}, {"id": 2, "v": "two"}, {"id": 3, "v": "x"}]


async def test_store_calls_during_a_helper_transaction_wait_for_it(store, conversation):
    db: SqlDatabase = store  # type: ignore[assignment]
    await db.execute("CREATE TABLE kb_wait (id INTEGER PRIMARY KEY)")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO kb_wait (id) VALUES (?)", 1)
        # Another task's store call is not lost or mixed into this transaction.
        other = asyncio.create_task(store.append_message(conversation.id, Author.BOT, "hi"))
        await asyncio.sleep(0.05)
        await tx.execute("INSERT INTO kb_wait (id) VALUES (?)", 2)
    assert (await other).seq == 1
    assert len(await db.fetch("SELECT id FROM kb_wait")) == 2


async def test_sqlite_refuses_store_calls_from_inside_its_own_transaction(sqlite_url):
    store = open_store(sqlite_url)
    await store.connect()
    try:
        await store.migrate()
        async with store.transaction() as tx:  # type: ignore[attr-defined]
            await tx.fetch("SELECT 1 AS one")
            with pytest.raises(BackendError, match="transaction"):
                await store.get_workspace("acme")
    finally:
        await store.close()


async def test_a_cancelled_helper_transaction_rolls_back_and_frees_the_store(store, conversation):
    db: SqlDatabase = store  # type: ignore[assignment]
    await db.execute("CREATE TABLE kb_cancel (id INTEGER PRIMARY KEY)")
    inside = asyncio.Event()

    async def hold() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO kb_cancel (id) VALUES (?)", 1)
            inside.set()
            await asyncio.sleep(30)

    holder = asyncio.create_task(hold())
    await inside.wait()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    # Cancelled while still waiting for BEGIN (behind a busy connection on SQLite).
    waiters = [asyncio.create_task(hold()) for _ in range(3)]
    await asyncio.sleep(0)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)

    assert await asyncio.wait_for(db.fetch("SELECT id FROM kb_cancel"), timeout=5) == []
    message = await asyncio.wait_for(
        store.append_message(conversation.id, Author.CUSTOMER, "still works"), timeout=5
    )
    assert message.seq == 1


def test_both_dialects_ship_the_same_migration_versions():
    """A feature adds its tables for SQLite and PostgreSQL together, under one number."""
    from smartsupport.storage.migrator import discover

    sqlite = [(m.version, m.name) for m in discover("sqlite")]
    postgresql = [(m.version, m.name) for m in discover("postgresql")]
    assert sqlite == postgresql
    assert [v for v, _ in sqlite] == sorted({v for v, _ in sqlite})
