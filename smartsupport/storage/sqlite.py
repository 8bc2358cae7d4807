"""SQLite store: one connection on one dedicated thread, WAL mode.

Each Store method hands one function from sqlite_jobs.py to the SQLite thread, which runs
it whole inside one transaction: one thread hop per call, and calls that queue up while
the thread is busy are committed together (see sqlite_thread.py). Writes take the write
lock up front (``BEGIN IMMEDIATE``), so read-modify-write steps cannot interleave, even
with another process using the same file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, Literal, TypeVar, cast

from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Event,
    Message,
    OutboxCancel,
    OutboxItem,
    Workspace,
)
from smartsupport.errors import BackendUnavailable
from smartsupport.storage import records, sqlite_sql
from smartsupport.storage import sqlite_jobs as jobs
from smartsupport.storage.base import SqlDatabase, SqlExecutor, Store
from smartsupport.storage.sqlite_sql import timestamp, translate
from smartsupport.storage.sqlite_thread import BEGIN, END, STEP, SqliteThread

T = TypeVar("T")


class SqliteStore(Store, SqlDatabase):
    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_sql.parse_url(url)
        self._thread = SqliteThread(
            partial(sqlite_sql.open_connection, self.path),
            name="smartsupport-sqlite",
            busy_timeout_ms=sqlite_sql.BUSY_TIMEOUT_MS,
        )

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r})"

    async def _run(self, fn: Callable[..., T], *args: Any, **context: Any) -> T:
        """Run a job on the SQLite thread, translating driver errors. ``context`` holds
        the ``conflict``/``missing`` messages for constraint errors, plus ``owner``/``kind``
        for helper transactions and ``inline`` for a turn's own small jobs (sqlite_thread)."""
        owner, kind = context.pop("owner", None), context.pop("kind", STEP)
        inline = context.pop("inline", False)
        try:
            return cast(T, await self._thread.run(fn, *args, owner=owner, kind=kind, inline=inline))
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
        await self._run(jobs.ping)

    async def migrate(self) -> list[int]:
        return await self._run(jobs.migrate)

    async def schema_version(self) -> int:
        return max(await self._run(jobs.applied_versions), default=0)

    async def pending_migrations(self) -> list[int]:
        return await self._run(jobs.pending_versions)

    # -- workspaces ----------------------------------------------------------------------
    async def upsert_workspace(self, workspace: Workspace) -> Workspace:
        return await self._run(jobs.upsert_workspace, workspace)

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        row = await self._run(
            jobs.fetch_one, "SELECT * FROM workspaces WHERE id = ?", (workspace_id,)
        )
        return records.workspace(row) if row else None

    async def list_workspaces(self) -> list[Workspace]:
        rows = await self._run(jobs.fetch_all, "SELECT * FROM workspaces ORDER BY id", ())
        return [records.workspace(r) for r in rows]

    # -- customers -----------------------------------------------------------------------
    async def create_customer(self, customer: Customer) -> Customer:
        await self._run(
            jobs.insert_customer,
            self.fields.sealed_customer(customer),
            self.fields.customer_lookups(customer),
            conflict=f"Customer {customer.external_id!r} already exists in this workspace.",
            missing=f"Unknown workspace {customer.workspace_id!r}.",
        )
        return customer

    async def get_customer(self, customer_id: str) -> Customer | None:
        row = await self._run(
            jobs.fetch_one, "SELECT * FROM customers WHERE id = ?", (customer_id,), inline=True
        )
        return self.fields.opened_customer(records.customer(row)) if row else None

    async def find_customer(self, workspace_id: str, external_id: str) -> Customer | None:
        # The keyed hash finds sealed rows; the plaintext finds rows from before encryption.
        sql = (
            "SELECT * FROM customers WHERE workspace_id = ? "
            "AND (external_id_hash IN (?, ?) OR external_id = ?)"
        )
        found = self.fields.lookups("external_id", external_id)  # both during a re-index
        row = await self._run(jobs.fetch_one, sql, (workspace_id, *found, external_id))
        return self.fields.opened_customer(records.customer(row)) if row else None

    async def update_customer(self, customer: Customer) -> Customer:
        sealed = self.fields.sealed_customer(customer)
        stored = await self._run(
            jobs.update_customer, sealed, self.fields.lookup("email", customer.email)
        )
        return self.fields.opened_customer(stored)

    # -- conversations -------------------------------------------------------------------
    async def create_conversation(self, conversation: Conversation) -> Conversation:
        await self._run(
            jobs.insert_conversation,
            self.fields.sealed_conversation(conversation),
            conflict=f"Conversation {conversation.id!r} already exists.",
            missing="Unknown workspace or customer for this conversation.",
        )
        conversation.last_seq = 0
        return conversation

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = await self._run(
            jobs.fetch_one, "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
        )
        return self.fields.opened_conversation(records.conversation(row)) if row else None

    async def set_status(self, conversation_id: str, status: ConversationStatus) -> Conversation:
        changed = await self._run(jobs.set_status, conversation_id, status)
        return self.fields.opened_conversation(changed)

    async def update_conversation_metadata(
        self, conversation_id: str, metadata: dict[str, Any]
    ) -> Conversation:
        sealed = self.fields.sealed_metadata(conversation_id, metadata)
        changed = await self._run(jobs.merge_conversation_metadata, conversation_id, sealed)
        return self.fields.opened_conversation(changed)

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
        rows = await self._run(jobs.fetch_all, sql, (*args, limit, offset))
        return [self.fields.opened_conversation(records.conversation(r)) for r in rows]

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
            jobs.append_message,
            self.fields.sealed_message(message),
            conflict=f"client_id {client_id!r} was already used in this conversation.",
            missing=f"reply_to names an unknown message {reply_to!r}.",
        )
        return message

    async def get_message_by_client_id(
        self, conversation_id: str, client_id: str
    ) -> Message | None:
        sql = "SELECT * FROM messages WHERE conversation_id = ? AND client_id = ?"
        row = await self._run(jobs.fetch_one, sql, (conversation_id, client_id))
        return self.fields.opened_message(records.message(row)) if row else None

    async def list_messages(
        self, conversation_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[Message]:
        sql = "SELECT * FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        rows = await self._run(jobs.fetch_all, sql, (conversation_id, after, limit))
        return [self.fields.opened_message(records.message(r)) for r in rows]

    async def replies_to(self, message_id: str) -> list[Message]:
        sql = "SELECT * FROM messages WHERE reply_to = ? ORDER BY conversation_id, seq"
        rows = await self._run(jobs.fetch_all, sql, (message_id,))
        return [self.fields.opened_message(records.message(r)) for r in rows]

    async def update_message_meta(self, message_id: str, meta: dict[str, Any]) -> None:
        sealed = self.fields.sealed_meta(message_id, meta)  # an attachment's name: sealed
        await self._run(jobs.merge_message_meta, message_id, sealed)

    # -- a whole turn --------------------------------------------------------------------
    async def load_turn(
        self, conversation_id: str, client_id: str | None
    ) -> tuple[Conversation | None, Message | None]:
        conversation, seen = await self._run(
            jobs.load_turn, conversation_id, client_id, inline=True
        )
        return (
            self.fields.opened_conversation(records.conversation(conversation))
            if conversation
            else None,
            self.fields.opened_message(records.message(seen)) if seen else None,
        )

    async def record_turn(
        self,
        conversation_id: str,
        messages: Sequence[Message],
        *,
        status: ConversationStatus | None = None,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
        metadata: dict[str, Any] | None = None,
        outbox: Sequence[OutboxItem] = (),
        cancel: Sequence[OutboxCancel] = (),
    ) -> Conversation:
        row, seqs = await self._run(
            jobs.record_turn,
            conversation_id,
            [self.fields.sealed_message(m) for m in messages],
            status,
            [
                (kind, self.fields.sealed_event("", conversation_id, kind, data))
                for kind, data in events
            ],
            self.fields.sealed_metadata(conversation_id, metadata or {}) or None,
            [self.fields.sealed_outbox(item) for item in outbox],
            list(cancel),
            inline=True,
            **records.turn_errors(messages),
        )
        for message, seq in zip(messages, seqs, strict=True):
            message.seq = seq
        return self.fields.opened_conversation(records.conversation(row))

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
        sealed = self.fields.sealed_event(workspace_id, conversation_id, type, event.data)
        event.id = await self._run(
            jobs.insert_event,
            replace(event, data=sealed),
            missing="Unknown workspace or conversation for this event.",
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
        rows = await self._run(jobs.fetch_all, sql, (*args, limit))
        return [records.event(self.fields.opened_event_row(r)) for r in rows]

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
        try:
            await self._run(sqlite_sql.job_begin, owner=token, kind=BEGIN)
        except BaseException:
            # Cancelled while waiting: the thread may still run the BEGIN and would then
            # hold the connection for us forever. Queue its end; it is harmless if the
            # BEGIN failed.
            if self._thread.is_open:
                ended = self._thread.submit(sqlite_sql.job_rollback, owner=token, kind=END)
                ended.add_done_callback(_ignore_outcome)
            raise
        self._thread.transaction_task = asyncio.current_task()
        try:
            yield _Transaction(self, token)
        except BaseException:
            await self._run(sqlite_sql.job_rollback, owner=token, kind=END)
            raise
        else:
            await self._run(sqlite_sql.job_commit, owner=token, kind=END)
        finally:
            if self._thread.transaction_task is asyncio.current_task():
                self._thread.transaction_task = None


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class _Transaction(SqlExecutor):
    """The statements of one helper transaction; they run on the owned connection."""

    def __init__(self, store: SqliteStore, token: object) -> None:
        self._run = partial(store._run, owner=token)
        self.fields = store.fields

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._run(sqlite_sql.job_execute, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._run(sqlite_sql.job_executemany, sql, list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._run(sqlite_sql.job_fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self._run(sqlite_sql.job_fetchrow, sql, args)
