"""A turn's own SQLite jobs run on the event loop's thread when the connection is free
(storage/sqlite_thread.py, "Inline jobs"), and never out of order, inside another task's
transaction, or waiting for another process's lock on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Workspace,
)
from smartsupport.errors import NotFound
from smartsupport.ids import new_id
from smartsupport.storage import open_store, sqlite_sql


@pytest.fixture
async def store(sqlite_url):
    store = open_store(sqlite_url)
    await store.connect()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def conversation(store) -> Conversation:
    await store.upsert_workspace(Workspace(id="acme", name="Acme"))
    customer = await store.create_customer(Customer(id=new_id(), workspace_id="acme"))
    return await store.create_conversation(
        Conversation(id=new_id(), workspace_id="acme", customer_id=customer.id)
    )


def _message(conversation: Conversation, text: str) -> Message:
    return Message(new_id(), conversation.id, 0, Author.CUSTOMER, text, client_id=new_id())


def _where(conn: sqlite3.Connection) -> int:
    return threading.get_ident()


async def test_a_free_connection_runs_the_job_on_the_calling_thread(store):
    assert await store._thread.run(_where, inline=True) == threading.get_ident()
    # Without inline the job still goes to the SQLite thread.
    assert await store._thread.run(_where) != threading.get_ident()


async def test_a_turn_is_stored_and_read_back_inline(store, conversation):
    message = _message(conversation, "where is my order?")
    await store.record_turn(conversation.id, [message])
    found, seen = await store.load_turn(conversation.id, message.client_id)
    assert found is not None and found.id == conversation.id
    assert seen is not None and seen.text == "where is my order?" and seen.seq == 1
    with pytest.raises(NotFound):
        await store.record_turn("no-such-conversation", [_message(conversation, "x")])


async def test_an_inline_job_waits_for_jobs_submitted_before_it(store, conversation):
    gate = threading.Event()

    def slow_write(conn: sqlite3.Connection) -> None:
        gate.wait(5)
        with sqlite_sql.write(conn):
            conn.execute(
                "UPDATE conversations SET status = 'resolved' WHERE id = ?", (conversation.id,)
            )

    earlier = asyncio.ensure_future(store._thread.run(slow_write))
    await asyncio.sleep(0.05)
    reading = asyncio.ensure_future(store.load_turn(conversation.id, None))
    await asyncio.sleep(0.05)
    assert not reading.done()  # behind the earlier job, not beside it
    gate.set()
    await earlier
    found, _ = await reading
    assert found is not None and found.status is ConversationStatus.RESOLVED


async def test_an_inline_job_never_runs_inside_another_tasks_transaction(store, conversation):
    inside, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with store.transaction() as tx:
            await tx.execute(
                "UPDATE conversations SET status = ? WHERE id = ?", "resolved", conversation.id
            )
            inside.set()
            await release.wait()
            raise RuntimeError("roll back")

    holder = asyncio.ensure_future(hold())
    await inside.wait()
    message = _message(conversation, "hello")
    writing = asyncio.ensure_future(store.record_turn(conversation.id, [message]))
    await asyncio.sleep(0.1)
    assert not writing.done()
    release.set()
    with pytest.raises(RuntimeError):
        await holder
    stored = await writing
    assert stored.status is ConversationStatus.BOT  # not the rolled-back change
    _, seen = await store.load_turn(conversation.id, message.client_id)
    assert seen is not None and seen.text == "hello"


async def test_a_lock_held_by_another_process_is_waited_for_off_the_event_loop(
    store, conversation, sqlite_url
):
    other = sqlite3.connect(sqlite_sql.parse_url(sqlite_url), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock, as a command-line import would hold it
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.ensure_future(ticker())
    message = _message(conversation, "still stored")
    writing = asyncio.ensure_future(store.record_turn(conversation.id, [message]))
    await asyncio.sleep(0.4)
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    await writing
    stop.set()
    await ticking
    assert max(gaps) < 0.2, f"the event loop stalled for {max(gaps):.2f} s"
    _, seen = await store.load_turn(conversation.id, message.client_id)
    assert seen is not None and seen.seq == 1
    # The connection's own busy timeout is back for the thread's jobs.
    timeout = await store._thread.run(lambda conn: conn.execute("PRAGMA busy_timeout").fetchone())
    assert list(timeout.values()) == [sqlite_sql.BUSY_TIMEOUT_MS]

    # An inline job never waits; the thread's next job waits again, whichever ran before.
    def busy(conn):
        return list(conn.execute("PRAGMA busy_timeout").fetchone().values())[0]

    assert [await store._thread.run(busy, inline=True) for _ in range(2)] == [0, 0]
    assert await store._thread.run(busy) == sqlite_sql.BUSY_TIMEOUT_MS
