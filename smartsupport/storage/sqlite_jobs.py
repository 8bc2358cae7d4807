"""The SQLite store's work, as plain functions that run whole on the SQLite thread.

Each takes the connection first and is one transaction (``write``): on its own it begins
and commits; inside a group commit the thread has already wrapped it in a savepoint.
Constraint errors propagate as sqlite3 errors; ``SqliteStore`` translates them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from smartsupport.domain import (
    Conversation,
    ConversationStatus,
    Customer,
    Event,
    Message,
    OutboxCancel,
    OutboxItem,
    Workspace,
    utcnow,
)
from smartsupport.errors import NotFound
from smartsupport.ids import new_id
from smartsupport.storage import records
from smartsupport.storage.base import OUTBOX_INSERT, outbox_row
from smartsupport.storage.migrator import discover, split_sqlite_script
from smartsupport.storage.sqlite_sql import adapt, timestamp, to_json, write

Conn = sqlite3.Connection


def ping(conn: Conn) -> None:
    conn.execute("SELECT 1").fetchall()


def fetch_one(conn: Conn, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
    rows = conn.execute(sql, args).fetchall()
    return rows[0] if rows else None


def fetch_all(conn: Conn, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    return conn.execute(sql, args).fetchall()


def applied_versions(conn: Conn) -> set[int]:
    table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    if not conn.execute(table).fetchall():
        return set()
    return {row["version"] for row in conn.execute("SELECT version FROM schema_migrations")}


def pending_versions(conn: Conn) -> list[int]:
    applied = applied_versions(conn)
    return [m.version for m in discover("sqlite") if m.version not in applied]


def migrate(conn: Conn) -> list[int]:
    applied_now = []
    for migration in discover("sqlite"):
        with write(conn):  # the write lock also keeps a second process from applying it
            if migration.version in applied_versions(conn):
                continue
            for statement in split_sqlite_script(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, timestamp(utcnow())),
            )
        applied_now.append(migration.version)
    return applied_now


def upsert_workspace(conn: Conn, ws: Workspace) -> Workspace:
    with write(conn):
        conn.execute(
            "INSERT INTO workspaces (id, name, config, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, config = excluded.config",
            (ws.id, ws.name, to_json(ws.config), timestamp(ws.created_at)),
        )
        row = fetch_one(conn, "SELECT * FROM workspaces WHERE id = ?", (ws.id,))
    return records.workspace(row)  # type: ignore[arg-type]


def insert_customer(conn: Conn, c: Customer, lookups: tuple[str | None, str | None]) -> None:
    """``c`` as stored (sealed) and its keyed hashes (external id, email)."""
    with write(conn):
        conn.execute(
            "INSERT INTO customers (id, workspace_id, external_id, name, email, locale, "
            "channel, segment, metadata, created_at, external_id_hash, email_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (c.id, c.workspace_id, c.external_id, c.name, c.email, c.locale, c.channel,
             c.segment, to_json(c.metadata), timestamp(c.created_at), *lookups),
        )  # fmt: skip


def update_customer(conn: Conn, c: Customer, email_hash: str | None) -> Customer:
    with write(conn):
        changed = conn.execute(
            "UPDATE customers SET name = ?, email = ?, locale = ?, segment = ?, metadata = ?, "
            "email_hash = ? WHERE id = ?",
            (c.name, c.email, c.locale, c.segment, to_json(c.metadata), email_hash, c.id),
        ).rowcount
        if not changed:
            raise NotFound(f"Unknown customer {c.id!r}.")
        row = fetch_one(conn, "SELECT * FROM customers WHERE id = ?", (c.id,))
    return records.customer(row)  # type: ignore[arg-type]


def insert_conversation(conn: Conn, c: Conversation) -> None:
    with write(conn):
        conn.execute(
            "INSERT INTO conversations (id, workspace_id, customer_id, channel, status, "
            "last_seq, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (c.id, c.workspace_id, c.customer_id, c.channel, ConversationStatus(c.status).value,
             to_json(c.metadata), timestamp(c.created_at), timestamp(c.updated_at)),
        )  # fmt: skip


def set_status(conn: Conn, conversation_id: str, status: ConversationStatus) -> Conversation:
    with write(conn):
        conn.execute(
            "UPDATE conversations SET status = ?, updated_at = ? WHERE id = ?",
            (ConversationStatus(status).value, timestamp(utcnow()), conversation_id),
        )
        row = fetch_one(conn, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))
    if row is None:
        raise NotFound(f"Unknown conversation {conversation_id!r}.")
    return records.conversation(row)


def merge_conversation_metadata(
    conn: Conn, conversation_id: str, changes: dict[str, Any]
) -> Conversation:
    with write(conn):
        row = fetch_one(conn, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NotFound(f"Unknown conversation {conversation_id!r}.")
        row["metadata"] = records.merge(row["metadata"], changes, drop_none=True)
        row["updated_at"] = utcnow()
        conn.execute(
            "UPDATE conversations SET metadata = ?, updated_at = ? WHERE id = ?",
            (to_json(row["metadata"]), timestamp(row["updated_at"]), conversation_id),
        )
    return records.conversation(row)


def append_message(conn: Conn, m: Message) -> int:
    with write(conn):
        rows = conn.execute(
            "UPDATE conversations SET last_seq = last_seq + 1, updated_at = ? "
            "WHERE id = ? RETURNING last_seq",
            (timestamp(m.created_at), m.conversation_id),
        ).fetchall()
        if not rows:
            raise NotFound(f"Unknown conversation {m.conversation_id!r}.")
        seq = rows[0]["last_seq"]
        conn.execute(
            "INSERT INTO messages (id, conversation_id, seq, author, text, client_id, "
            "reply_to, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (m.id, m.conversation_id, seq, m.author.value, m.text, m.client_id, m.reply_to,
             to_json(m.meta), timestamp(m.created_at)),
        )  # fmt: skip
    return int(seq)


def merge_message_meta(conn: Conn, message_id: str, changes: dict[str, Any]) -> None:
    with write(conn):
        row = fetch_one(conn, "SELECT meta FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise NotFound(f"Unknown message {message_id!r}.")
        meta = records.merge(row["meta"], changes, drop_none=False)
        conn.execute("UPDATE messages SET meta = ? WHERE id = ?", (to_json(meta), message_id))


def insert_event(conn: Conn, e: Event) -> int:
    with write(conn):
        rows = conn.execute(
            "INSERT INTO events (workspace_id, conversation_id, type, data, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (e.workspace_id, e.conversation_id, e.type, to_json(e.data), timestamp(e.created_at)),
        ).fetchall()
    return int(rows[0]["id"])


def load_turn(
    conn: Conn, conversation_id: str, client_id: str | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    conversation = fetch_one(conn, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))
    if conversation is None or client_id is None:
        return conversation, None
    seen = fetch_one(
        conn,
        "SELECT * FROM messages WHERE conversation_id = ? AND client_id = ?",
        (conversation_id, client_id),
    )
    return conversation, seen


def record_turn(
    conn: Conn,
    conversation_id: str,
    messages: list[Message],
    status: ConversationStatus | None,
    events: list[tuple[str, dict[str, Any]]],
    metadata: dict[str, Any] | None = None,
    outbox: list[OutboxItem] | None = None,
    cancel: list[OutboxCancel] | None = None,
) -> tuple[dict[str, Any], list[int]]:
    """The conversation row afterwards and the messages' sequence numbers."""
    clock = utcnow()
    now = timestamp(clock)
    with write(conn):
        changed = conn.execute(
            "UPDATE conversations SET last_seq = last_seq + ?, status = coalesce(?, status), "
            "updated_at = ? WHERE id = ?",
            (len(messages), ConversationStatus(status).value if status is not None else None, now,
             conversation_id),
        ).rowcount  # fmt: skip
        if not changed:
            raise NotFound(f"Unknown conversation {conversation_id!r}.")
        row = fetch_one(conn, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        assert row is not None
        if metadata:
            row["metadata"] = records.merge(row["metadata"], metadata, drop_none=True)
            conn.execute(
                "UPDATE conversations SET metadata = ? WHERE id = ?",
                (to_json(row["metadata"]), conversation_id),
            )
        seqs = list(range(row["last_seq"] - len(messages) + 1, row["last_seq"] + 1))
        rows = zip(messages, seqs, strict=True)
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, seq, author, text, client_id, "
            "reply_to, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(m.id, conversation_id, seq, m.author.value, m.text, m.client_id, m.reply_to,
              to_json(m.meta), timestamp(m.created_at)) for m, seq in rows],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO events (workspace_id, conversation_id, type, data, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(row["workspace_id"], conversation_id, kind, to_json(data), now)
             for kind, data in events],
        )  # fmt: skip
        conn.executemany(
            OUTBOX_INSERT,
            [adapt(outbox_row(new_id(), row["workspace_id"], i, clock)) for i in outbox or ()],
        )
        for item in cancel or ():
            cancel_outbox(conn, row["workspace_id"], item, now)
    return row, seqs


# A pending row called back (domain.OutboxCancel), unless a worker holds it: it may be
# going out (pg_turn.CANCEL_OUTBOX is the same on PostgreSQL).
_CANCEL = (
    "UPDATE outbox SET status = 'done', result = ?, updated_at = ? WHERE workspace_id = ? "
    "AND kind = ? AND status = 'pending' AND (locked_until IS NULL OR locked_until < ?) AND "
)


def cancel_outbox(conn: Conn, workspace_id: str, item: OutboxCancel, now: str) -> int:
    match = "substr(idempotency_key, 1, ?) = ?" if item.prefix else "idempotency_key = ?"
    key = (len(item.key), item.key) if item.prefix else (item.key,)
    args = (to_json(item.result), now, workspace_id, item.kind, now, *key)
    return conn.execute(_CANCEL + match, args).rowcount
