"""`keys reencrypt` reaches every sealed place (storage/reencrypt.py), on SQLite and on
PostgreSQL: a workspace's own event (a mail ignored before it had a conversation), an
outbox entry's result, an attachment's file name, a CSAT comment, the review queue's copies
of customers' messages and questions imported from chat history. After rotate + reencrypt
the census finds only the new key, the old key is removed, and each place still reads
back."""

from __future__ import annotations

import json
from typing import Any, cast

from smartsupport import outbox
from smartsupport.domain import Conversation, Customer, OutboxItem, Workspace, utcnow
from smartsupport.ids import new_id
from smartsupport.inbox.store import InboxStore
from smartsupport.keyring import EnvKeySource, Keyring, KeySet, new_keyset
from smartsupport.review.bootstrap import suggestions
from smartsupport.review.store import ReviewStore
from smartsupport.storage import open_store
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.fields import PLAINTEXT, FieldCipher
from smartsupport.storage.reencrypt import census, reencrypt
from tests.test_encryption_at_rest import leaks, old_keys_removed, raw_rows

SECRETS = (
    "hopper@navy",
    "moth-in-relay",
    "cobol-zebra",
    "harvard-mark",
    "passport-grace",
    "nanosecond-wire",
)


async def opened(url: str, keys: KeySet | None) -> SqlDatabase:
    """A migrated store sealing with ``keys``; without keys it writes in clear, as before
    encryption was set up."""
    db = cast(SqlDatabase, open_store(url))
    db.fields = FieldCipher(Keyring(EnvKeySource(keys.to_json()))) if keys else PLAINTEXT
    await db.connect()
    await db.migrate()
    return db


async def write(db: SqlDatabase) -> str:
    """One value in each place; returns the outbox entry's id."""
    await db.upsert_workspace(Workspace(id="demo", name="Demo", config={}))
    await db.create_customer(Customer(id="c1", workspace_id="demo", name="Grace"))
    await db.create_conversation(Conversation(id="v1", workspace_id="demo", customer_id="c1"))
    await db.add_event(
        "demo",
        "email.ignored",
        {"from": "hopper@navy.example", "message_id": "<moth-in-relay@navy>", "reason": "x"},
    )
    await outbox.enqueue(db, "demo", OutboxItem("ticket.create", {"q": "?"}, "ticket:v1"))
    (entry,) = await outbox.list_entries(db)
    assert await outbox.cancel(db, entry.id, {"cancelled": "hopper@navy.example"})
    attachment = new_id()
    await db.execute(
        "INSERT INTO attachments (id, workspace_id, conversation_id, message_id, source, "
        "filename, content_type, kind, size, sha256, storage_key, created_at) "
        "VALUES (?, ?, ?, NULL, 'widget', ?, 'application/pdf', 'file', 1, 'ab', 'demo/ab', ?)",
        attachment,
        "demo",
        "v1",
        db.fields.seal("attachments", "filename", attachment, "passport-grace.pdf"),
        utcnow(),
    )
    await InboxStore(db).update("v1", "demo", csat_rating=2, csat_comment="nanosecond-wire slow")
    await ReviewStore(db).decide("demo", [("m1", "my cobol-zebra broke")], "dismiss", None, "s1")
    suggestion = new_id()
    examples = db.fields.seal("review_suggestions", "examples", suggestion, '["harvard-mark?"]')
    await db.execute(
        "INSERT INTO review_suggestions (id, workspace_id, source, kind, name, answer, "
        "examples, size, created_at) VALUES (?, 'demo', 'chats.csv', 'faq', ?, ?, ?, 1, ?)",
        suggestion,
        db.fields.seal("review_suggestions", "name", suggestion, "harvard-mark?"),
        db.fields.seal("review_suggestions", "answer", suggestion, "the cobol-zebra answer"),
        {"text": examples},
        utcnow(),
    )
    return entry.id


async def reads_back(db: SqlDatabase, entry_id: str) -> None:
    (event,) = await db.list_events("demo", type="email.ignored")
    assert event.data == {
        "from": "hopper@navy.example",
        "message_id": "<moth-in-relay@navy>",
        "reason": "x",
    }
    entry = await outbox.get(db, entry_id)
    assert entry is not None and entry.result == {"cancelled": "hopper@navy.example"}
    row = await db.fetchrow("SELECT id, filename FROM attachments")
    assert row is not None
    assert db.fields.open("attachments", "filename", row["id"], row["filename"]) == (
        "passport-grace.pdf"
    )
    inbox = InboxStore(db)
    assert (await inbox.row("v1"))["csat_comment"] == "nanosecond-wire slow"  # type: ignore[index]
    assert (await inbox.rows(["v1"]))["v1"]["csat_comment"] == "nanosecond-wire slow"
    (decision,) = await ReviewStore(db).decisions("demo")
    assert decision.text == "my cobol-zebra broke"
    (suggested,) = await suggestions(db, "demo")
    assert suggested["name"] == "harvard-mark?" and suggested["examples"] == ["harvard-mark?"]
    assert suggested["answer"] == "the cobol-zebra answer"


async def test_reencrypt_reaches_every_sealed_place(database_url):
    old = new_keyset()
    db = await opened(database_url, old)
    try:
        entry_id = await write(db)
        assert leaks(await raw_rows(db), SECRETS) == {}
        await reads_back(db, entry_id)
    finally:
        await db.close()

    rotated = old.with_new_primary()
    db = await opened(database_url, rotated)
    try:
        done = {p.table: p.changed for p in await reencrypt(db, batch=1)}
        for table in ("events", "outbox", "attachments", "review_decisions", "inbox_conversations"):
            assert done[table] == 1, (table, done)
        assert done["review_suggestions"] == 1
        counts: dict[str, Any] = {p.table: dict(p.keys) for p in await census(db)}
        assert counts["events"] == {rotated.primary: 2}  # from, message_id
        assert counts["outbox"] == {rotated.primary: 2}  # payload, result
        assert counts["review_suggestions"] == {rotated.primary: 3}  # name, answer, examples
        for table in ("attachments", "review_decisions", "inbox_conversations"):
            assert counts[table] == {rotated.primary: 1}, table
        assert sum(p.changed for p in await reencrypt(db)) == 0
    finally:
        await db.close()

    retired = old_keys_removed(rotated)
    db = await opened(database_url, retired)
    try:
        await reads_back(db, entry_id)
        assert json.dumps(leaks(await raw_rows(db), SECRETS)) == "{}"
    finally:
        await db.close()
