"""SQLite store: one connection on one dedicated thread, WAL mode.

Each Store method is a plain function that runs whole on the SQLite thread inside one
transaction (one thread hop per call; see sqlite_thread.py). Writes take the write lock up
front (``BEGIN IMMEDIATE``), so the read-modify-write steps below cannot interleave, even
with another process using the same file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any, Literal

from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Event,
    Message,
    Workspace,
    utcnow,
)
from smartsupport.errors import BackendUnavailable, NotFound
from smartsupport.storage import records, sqlite_sql
from smartsupport.storage.base import SqlDatabase, SqlExecutor, Store
from smartsupport.storage.migrator import discover, split_sqlite_script
from smartsupport.storage.sqlite_sql import timestamp, to_json, translate, write
from smartsupport.storage.sqlite_thread import BEGIN, END, SqliteThread

Conn = sqlite3.Connection


class SqliteStore(Store, SqlDatabase):
    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_sql.parse_url(url)
        self._thread = SqliteThread(
            partial(sqlite_sql.open_connection, self.path), name="smartsupport-sqlite"
        )

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r})"

    async def _run(self, fn: Callable[..., Any], *args: Any, **context: Any) -> Any:
        """Run a job on the SQLite thread, translating driver errors. ``context`` holds
        the ``conflict``/``missing`` messages for constraint errors, plus ``owner``/``kind``
        for helper transactions."""
        owner, kind = context.pop("owner", None), context.pop("kind", 2)
        try:
            return await self._thread.run(fn, *args, owner=owner, kind=kind)
        except sqlite3.Error as exc:
            raise translate(exc, **context) from exc

    # -- lifecycle -----------------------------------------------------------------------
    async def connect(self) -> None:
        if self._thread.is_open:
            return
        try:
            await self._thread.start()
        except (sqlite3.Error, OSError) as exc:
            raise BackendUnavailable(f"Cannot open SQLite database {self.path!r}: {exc}") from exc

    async def close(self) -> None:
        await self._thread.stop()

    async def ping(self) -> None:
        await self._run(_select_one)

    async def migrate(self) -> list[int]:
        return await self._run(_migrate)

    async def schema_version(self) -> int:
        return max(await self._run(_applied_versions), default=0)

    async def pending_migrations(self) -> list[int]:
        applied = await self._run(_applied_versions)
        return [m.version for m in discover("sqlite") if m.version not in applied]

    # -- workspaces ----------------------------------------------------------------------
    async def upsert_workspace(self, workspace: Workspace) -> Workspace:
        return await self._run(_upsert_workspace, workspace)

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        row = await self._run(_one, "SELECT * FROM workspaces WHERE id = ?", (workspace_id,))
        return records.workspace(row) if row else None

    async def list_workspaces(self) -> list[Workspace]:
        rows = await self._run(_all, "SELECT * FROM workspaces ORDER BY id", ())
        return [records.workspace(r) for r in rows]

    # -- customers -----------------------------------------------------------------------
    async def create_customer(self, customer: Customer) -> Customer:
        await self._run(
            _insert_customer,
            customer,
            conflict=f"Customer {customer.external_id!r} already exists in this workspace.",
            missing=f"Unknown workspace {customer.workspace_id!r}.",
        )
        return customer

    async def get_customer(self, customer_id: str) -> Customer | None:
        row = await self._run(_one, "SELECT * FROM customers WHERE id = ?", (customer_id,))
        return records.customer(row) if row else None

    async def find_customer(self, workspace_id: str, external_id: str) -> Customer | None:
        sql = "SELECT * FROM customers WHERE workspace_id = ? AND external_id = ?"
        row = await self._run(_one, sql, (workspace_id, external_id))
        return records.customer(row) if row else None

    async def update_customer(self, customer: Customer) -> Customer:
        return await self._run(_update_customer, customer)

    # -- conversations -------------------------------------------------------------------
    async def create_conversation(self, conversation: Conversation) -> Conversation:
        await self._run(
            _insert_conversation,
            conversation,
            conflict=f"Conversation {conversation.id!r} already exists.",
            missing="Unknown workspace or customer for this conversation.",
        )
        conversation.last_seq = 0
        return conversation

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = await self._run(_one, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return records.conversation(row) if row else None

    async def set_status(self, conversation_id: str, status: ConversationStatus) -> Conversation:
        return await self._run(_set_status, conversation_id, status)

    async def update_conversation_metadata(
        self, conversation_id: str, metadata: dict[str, Any]
    ) -> Conversation:
        return await self._run(_merge_conversation_metadata, conversation_id, metadata)

    async def list_conversations(
        self,
        workspace_id: str,
        *,
        status: ConversationStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Conversation]:
        where, args = "workspace_id = ?", [workspace_id]
        if status is not None:
            where, args = where + " AND status = ?", [*args, status.value]
        sql = (
            f"SELECT * FROM conversations WHERE {where} "
            "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        rows = await self._run(_all, sql, (*args, limit, offset))
        return [records.conversation(r) for r in rows]

    # -- messages ------------------------------------------------------------------------
    async def append_message(
        self,
        conversation_id: str,
        author: Author,
        text: str,
        *,
        client_id: str | None = None,
        reply_to: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Message:
        message = Message(
            id=records.new_id(),
            conversation_id=conversation_id,
            seq=0,
            author=Author(author),
            text=text,
            client_id=client_id,
            reply_to=reply_to,
            meta=dict(meta or {}),
        )
        message.seq = await self._run(
            _append_message,
            message,
            conflict=f"client_id {client_id!r} was already used in this conversation.",
            missing=f"reply_to names an unknown message {reply_to!r}.",
        )
        return message

    async def get_message_by_client_id(
        self, conversation_id: str, client_id: str
    ) -> Message | None:
        sql = "SELECT * FROM messages WHERE conversation_id = ? AND client_id = ?"
        row = await self._run(_one, sql, (conversation_id, client_id))
        return records.message(row) if row else None

    async def list_messages(
        self, conversation_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[Message]:
        sql = "SELECT * FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        rows = await self._run(_all, sql, (conversation_id, after, limit))
        return [records.message(r) for r in rows]

    async def replies_to(self, message_id: str) -> list[Message]:
        sql = "SELECT * FROM messages WHERE reply_to = ? ORDER BY conversation_id, seq"
        rows = await self._run(_all, sql, (message_id,))
        return [records.message(r) for r in rows]

    async def update_message_meta(self, message_id: str, meta: dict[str, Any]) -> None:
        await self._run(_merge_message_meta, message_id, meta)

    # -- events --------------------------------------------------------------------------
    async def add_event(
        self,
        workspace_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
    ) -> Event:
        event = Event(0, workspace_id, conversation_id, type, dict(data or {}))
        event.id = await self._run(
            _insert_event, event, missing="Unknown workspace or conversation for this event."
        )
        return event

    async def list_events(
        self,
        workspace_id: str,
        *,
        type: str | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Event]:
        where, args = ["workspace_id = ?", "id > ?"], [workspace_id, after_id]
        if type is not None:
            where.append("type = ?")
            args.append(type)
        if conversation_id is not None:
            where.append("conversation_id = ?")
            args.append(conversation_id)
        if since is not None:
            where.append("created_at >= ?")
            args.append(timestamp(since))
        sql = f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        rows = await self._run(_all, sql, (*args, limit))
        return [records.event(r) for r in rows]

    # -- SqlDatabase ---------------------------------------------------------------------
    async def execute(self, sql: str, *args: Any) -> int:
        return await self._run(sqlite_sql.job_execute, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._run(sqlite_sql.job_executemany, sql, list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._run(sqlite_sql.job_fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self._run(sqlite_sql.job_fetchrow, sql, args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlExecutor]:
        token = object()
        await self._run(sqlite_sql.job_begin, owner=token, kind=BEGIN)
        self._thread.transaction_task = asyncio.current_task()
        try:
            yield _Transaction(self, token)
        except BaseException:
            await self._run(sqlite_sql.job_rollback, owner=token, kind=END)
            raise
        else:
            await self._run(sqlite_sql.job_commit, owner=token, kind=END)
        finally:
            self._thread.transaction_task = None


class _Transaction(SqlExecutor):
    """The statements of one helper transaction; they run on the owned connection."""

    def __init__(self, store: SqliteStore, token: object) -> None:
        self._run = partial(store._run, owner=token)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._run(sqlite_sql.job_execute, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._run(sqlite_sql.job_executemany, sql, list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._run(sqlite_sql.job_fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self._run(sqlite_sql.job_fetchrow, sql, args)


# -- jobs: each runs whole on the SQLite thread ----------------------------------------------
def _select_one(conn: Conn) -> None:
    conn.execute("SELECT 1").fetchall()


def _one(conn: Conn, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
    rows = conn.execute(sql, args).fetchall()
    return rows[0] if rows else None


def _all(conn: Conn, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    return conn.execute(sql, args).fetchall()


def _applied_versions(conn: Conn) -> set[int]:
    table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    if not conn.execute(table).fetchall():
        return set()
    return {row["version"] for row in conn.execute("SELECT version FROM schema_migrations")}


def _migrate(conn: Conn) -> list[int]:
    applied_now = []
    for migration in discover("sqlite"):
        with write(conn):  # the write lock also keeps a second process from applying it
            if migration.version in _applied_versions(conn):
                continue
            for statement in split_sqlite_script(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, timestamp(utcnow())),
            )
        applied_now.append(migration.version)
    return applied_now


def _upsert_workspace(conn: Conn, ws: Workspace) -> Workspace:
    with write(conn):
        conn.execute(
            "INSERT INTO workspaces (id, name, config, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, config = excluded.config",
            (ws.id, ws.name, to_json(ws.config), timestamp(ws.created_at)),
        )
        row = _one(conn, "SELECT * FROM workspaces WHERE id = ?", (ws.id,))
    return records.workspace(row)  # type: ignore[arg-type]


def _insert_customer(conn: Conn, c: Customer) -> None:
    with write(conn):
        conn.execute(
            "INSERT INTO customers (id, workspace_id, external_id, name, email, locale, "
            "channel, segment, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (c.id, c.workspace_id, c.external_id, c.name, c.email, c.locale, c.channel,
             c.segment, to_json(c.metadata), timestamp(c.created_at)),
        )  # fmt: skip


def _update_customer(conn: Conn, c: Customer) -> Customer:
    with write(conn):
        changed = conn.execute(
            "UPDATE customers SET name = ?, email = ?, locale = ?, segment = ?, metadata = ? "
            "WHERE id = ?",
            (c.name, c.email, c.locale, c.segment, to_json(c.metadata), c.id),
        ).rowcount
        if not changed:
            raise NotFound(f"Unknown customer {c.id!r}.")
        row = _one(conn, "SELECT * FROM customers WHERE id = ?", (c.id,))
    return records.customer(row)  # type: ignore[arg-type]


def _insert_conversation(conn: Conn, c: Conversation) -> None:
    with write(conn):
        conn.execute(
            "INSERT INTO conversations (id, workspace_id, customer_id, channel, status, "
            "last_seq, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (c.id, c.workspace_id, c.customer_id, c.channel, ConversationStatus(c.status).value,
             to_json(c.metadata), timestamp(c.created_at), timestamp(c.updated_at)),
        )  # fmt: skip


def _set_status(conn: Conn, conversation_id: str, status: ConversationStatus) -> Conversation:
    with write(conn):
        conn.execute(
            "UPDATE conversations SET status = ?, updated_at = ? WHERE id = ?",
            (ConversationStatus(status).value, timestamp(utcnow()), conversation_id),
        )
        row = _one(conn, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))
    if row is None:
        raise NotFound(f"Unknown conversation {conversation_id!r}.")
    return records.conversation(row)


def _merge_conversation_metadata(
    conn: Conn, conversation_id: str, changes: dict[str, Any]
) -> Conversation:
    with write(conn):
        row = _one(conn, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NotFound(f"Unknown conversation {conversation_id!r}.")
        row["metadata"] = records.merge(row["metadata"], changes, drop_none=True)
        row["updated_at"] = utcnow()
        conn.execute(
            "UPDATE conversations SET metadata = ?, updated_at = ? WHERE id = ?",
            (to_json(row["metadata"]), timestamp(row["updated_at"]), conversation_id),
        )
    return records.conversation(row)


def _append_message(conn: Conn, m: Message) -> int:
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
    return seq


def _merge_message_meta(conn: Conn, message_id: str, changes: dict[str, Any]) -> None:
    with write(conn):
        row = _one(conn, "SELECT meta FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise NotFound(f"Unknown message {message_id!r}.")
        meta = records.merge(row["meta"], changes, drop_none=False)
        conn.execute("UPDATE messages SET meta = ? WHERE id = ?", (to_json(meta), message_id))


def _insert_event(conn: Conn, e: Event) -> int:
    with write(conn):
        rows = conn.execute(
            "INSERT INTO events (workspace_id, conversation_id, type, data, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (e.workspace_id, e.conversation_id, e.type, to_json(e.data), timestamp(e.created_at)),
        ).fetchall()
    return rows[0]["id"]
