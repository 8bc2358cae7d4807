"""The audit log: append-only, chained by hash, and verify finds a changed, removed or
cut-off entry; on SQLite and PostgreSQL alike (a real server, one schema per test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from smartsupport import audit
from smartsupport.errors import BackendError
from smartsupport.storage import open_store

# Drop the triggers as someone with direct access to the database would: the chain, not the
# triggers, is what must catch them.
DROP_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER audit_log_no_update",
        "DROP TRIGGER audit_log_no_delete",
    ],
    "postgresql": ["DROP TRIGGER audit_log_append_only ON audit_log"],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request) -> str:
    # A sync fixture: pytest-asyncio cannot resolve an async fixture from an async one.
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
async def db(url):
    store = open_store(url)
    await store.connect()
    await store.migrate()
    yield store
    await store.close()


async def fill(db, n: int = 5) -> list[audit.AuditEntry]:
    return [
        await audit.record(
            db,
            "staff.login",
            actor=f"staff:s{i}",
            target=f"staff:s{i}",
            ip="192.0.2.7",
            details={"n": i, "why": "é ü 字"},
        )
        for i in range(n)
    ]


async def tamper(db, *statements: str) -> None:
    for sql in DROP_TRIGGERS[db.dialect]:
        await db.execute(sql)
    for sql in statements:
        await db.execute(sql)


async def test_entries_chain_to_each_other_and_verify(db):
    written = await fill(db)
    assert [e.seq for e in written] == [1, 2, 3, 4, 5]
    assert written[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(written, written[1:], strict=False))
    result = await audit.verify(db)
    assert result.ok and result.entries == 5
    assert result.head == (5, written[-1].hash)
    read = await audit.entries(db)
    assert [e.as_json() for e in read] == [e.as_json() for e in written]


async def test_the_database_refuses_updates_and_deletes(db):
    await fill(db, 2)
    with pytest.raises(BackendError, match="append-only"):
        await db.execute("UPDATE audit_log SET action = 'nothing' WHERE seq = 1")
    with pytest.raises(BackendError, match="append-only"):
        await db.execute("DELETE FROM audit_log WHERE seq = 2")
    assert (await audit.verify(db)).ok


async def test_a_changed_entry_is_found(db):
    await fill(db)
    await tamper(db, "UPDATE audit_log SET details = '{\"n\":99}' WHERE seq = 3")
    result = await audit.verify(db)
    assert not result.ok and result.broken_at == 3
    assert "changed" in result.problem


async def test_a_changed_entry_with_a_recomputed_hash_breaks_the_next_link(db):
    await fill(db)
    rows = await db.fetch("SELECT * FROM audit_log WHERE seq = 2")
    row = rows[0]
    forged = audit.entry_hash(
        2, row["created_at"], None, "staff:mallory", row["action"], row["target"],
        None, row["ip"], row["details"], row["prev_hash"],
    )  # fmt: skip
    await tamper(
        db, f"UPDATE audit_log SET actor = 'staff:mallory', hash = '{forged}' WHERE seq = 2"
    )
    result = await audit.verify(db)
    assert not result.ok and result.broken_at == 3 and "chain" in result.problem


async def test_a_removed_entry_is_found(db):
    await fill(db)
    await tamper(db, "DELETE FROM audit_log WHERE seq = 2")
    result = await audit.verify(db)
    assert not result.ok and result.broken_at == 2 and "missing" in result.problem


async def test_cutting_off_the_newest_entries_is_found_with_an_anchor(db):
    await fill(db)
    head = (await audit.verify(db)).head
    assert head is not None
    await tamper(db, "DELETE FROM audit_log WHERE seq >= 4")
    assert (await audit.verify(db)).ok  # a shorter chain is consistent in itself...
    result = await audit.verify(db, anchor=head)
    assert not result.ok and "gone" in result.problem  # ...but the anchor is gone


async def test_concurrent_writers_never_fork_the_chain(db):
    await asyncio.gather(*(audit.record(db, "staff.login", actor=f"staff:{i}") for i in range(25)))
    result = await audit.verify(db)
    assert result.ok and result.entries == 25


async def test_timestamps_round_trip_exactly(db):
    # The hash covers the time to the microsecond: both backends must give it back as written.
    when = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
    await audit.record(db, "customer.exported", actor="cli", now=when)
    [entry] = await audit.entries(db)
    assert entry.created_at == when
    assert (await audit.verify(db)).ok


async def test_workspace_scope_shows_its_entries_and_its_staffs_account_events(db):
    await audit.record(db, "customer.erased", actor="staff:a", workspace_id="acme")
    await audit.record(db, "customer.erased", actor="staff:b", workspace_id="other")
    await audit.record(db, "staff.login", actor="staff:a", target="staff:a")
    await audit.record(db, "staff.login", actor="staff:b", target="staff:b")
    seen = await audit.entries(db, workspaces=["acme"], principals=["staff:a"])
    assert [(e.workspace_id, e.actor) for e in seen] == [("acme", "staff:a"), (None, "staff:a")]
