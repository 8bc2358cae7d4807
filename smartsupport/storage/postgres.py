"""PostgreSQL store on an asyncpg pool.

Query-string parameters of the URL that asyncpg does not know itself (for example
``?search_path=tenant_a``) are sent to the server as session settings by asyncpg; the test
fixtures rely on that to give every test its own schema.

Statements are written with ``?`` placeholders, like the SQLite store, and numbered by
``pg_sql.numbered``. Most methods are a single statement, so they need no explicit
transaction; appending a message bumps the conversation and inserts the message in one
statement, whose row lock on the conversation keeps sequence numbers dense. A whole
customer turn is one statement too (``pg_turn.py``): one round trip and one commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

import asyncpg

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
    utcnow,
)
from smartsupport.errors import BackendError, BackendUnavailable, ConfigurationError, NotFound
from smartsupport.storage import pg_turn, records
from smartsupport.storage.base import SqlDatabase, SqlExecutor, Store
from smartsupport.storage.migrator import discover
from smartsupport.storage.pg_sql import (
    DRIVER_ERRORS,
    UNREACHABLE,
    PgExecutor,
    applied_versions,
    init_connection,
    keep_session,
    numbered,
    pg_migrate,
    pool_transaction,
    translate,
)

CONNECT_TIMEOUT = 10.0


class PostgresStore(Store, SqlDatabase):
    dialect: Literal["postgresql"] = "postgresql"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        from smartsupport.storage import _redact

        return f"PostgresStore({_redact(self.url)!r})"

    # -- lifecycle -----------------------------------------------------------------------
    async def connect(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self._min_size,
                max_size=self._max_size,
                init=init_connection,
                reset=keep_session,
                timeout=CONNECT_TIMEOUT,
            )
        except UNREACHABLE as exc:
            raise BackendUnavailable(f"Cannot reach PostgreSQL: {exc!r}") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            # The server answered but refused a setting (e.g. an unknown ?parameter).
            raise ConfigurationError(
                f"PostgreSQL refused the connection settings of the database URL: {exc}"
            ) from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _require(self) -> asyncpg.Pool:
        if self._pool is None:
            raise BackendError("The PostgreSQL store is closed (or was never connected).")
        return self._pool

    async def ping(self) -> None:
        await self.fetchrow("SELECT 1 AS one")

    async def migrate(self) -> list[int]:
        migrations = await asyncio.to_thread(discover, "postgresql")
        async with self._session() as conn:
            return await pg_migrate(conn, migrations)

    async def schema_version(self) -> int:
        async with self._session() as conn:
            return max(await applied_versions(conn), default=0)

    async def pending_migrations(self) -> list[int]:
        migrations = await asyncio.to_thread(discover, "postgresql")
        async with self._session() as conn:
            applied = await applied_versions(conn)
        return [m.version for m in migrations if m.version not in applied]

    @contextlib.asynccontextmanager
    async def _session(self, conflict: str = "", missing: str = "") -> AsyncIterator[Any]:
        """A pooled connection; driver errors raised inside come out translated."""
        pool = self._require()
        try:
            async with pool.acquire() as conn:
                yield conn
        except DRIVER_ERRORS as exc:
            raise translate(exc, conflict=conflict, missing=missing) from exc

    async def _row(self, sql: str, *args: Any, conflict: str = "", missing: str = "") -> Any:
        async with self._session(conflict, missing) as conn:
            return await conn.fetchrow(numbered(sql), *args)

    async def _rows(self, sql: str, *args: Any) -> list[Any]:
        async with self._session() as conn:
            rows: list[Any] = await conn.fetch(numbered(sql), *args)
            return rows

    # -- workspaces ----------------------------------------------------------------------
    async def upsert_workspace(self, workspace: Workspace) -> Workspace:
        row = await self._row(
            "INSERT INTO workspaces (id, name, config, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, config = excluded.config "
            "RETURNING *",
            workspace.id,
            workspace.name,
            workspace.config,
            workspace.created_at,
        )
        return records.workspace(row)

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        row = await self._row("SELECT * FROM workspaces WHERE id = ?", workspace_id)
        return records.workspace(row) if row else None

    async def list_workspaces(self) -> list[Workspace]:
        return [
            records.workspace(r) for r in await self._rows("SELECT * FROM workspaces ORDER BY id")
        ]

    # -- customers -----------------------------------------------------------------------
    async def create_customer(self, customer: Customer) -> Customer:
        c = self.fields.sealed_customer(customer)
        await self._row(
            "INSERT INTO customers (id, workspace_id, external_id, name, email, locale, "
            "channel, segment, metadata, created_at, external_id_hash, email_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            c.id, c.workspace_id, c.external_id, c.name, c.email, c.locale, c.channel,
            c.segment, c.metadata, c.created_at, *self.fields.customer_lookups(customer),
            conflict=f"Customer {customer.external_id!r} already exists in this workspace.",
            missing=f"Unknown workspace {c.workspace_id!r}.",
        )  # fmt: skip
        return customer

    async def get_customer(self, customer_id: str) -> Customer | None:
        row = await self._row("SELECT * FROM customers WHERE id = ?", customer_id)
        return self.fields.opened_customer(records.customer(row)) if row else None

    async def find_customer(self, workspace_id: str, external_id: str) -> Customer | None:
        # The keyed hash finds sealed rows; the plaintext finds rows from before encryption.
        row = await self._row(
            "SELECT * FROM customers WHERE workspace_id = ? "
            "AND (external_id_hash IN (?, ?) OR external_id = ?)",
            workspace_id,
            *self.fields.lookups("external_id", external_id),  # both during a re-index
            external_id,
        )
        return self.fields.opened_customer(records.customer(row)) if row else None

    async def update_customer(self, customer: Customer) -> Customer:
        c = self.fields.sealed_customer(customer)
        row = await self._row(
            "UPDATE customers SET name = ?, email = ?, locale = ?, segment = ?, metadata = ?, "
            "email_hash = ? WHERE id = ? RETURNING *",
            c.name, c.email, c.locale, c.segment, c.metadata,
            self.fields.lookup("email", customer.email), c.id,
        )  # fmt: skip
        if row is None:
            raise NotFound(f"Unknown customer {c.id!r}.")
        return self.fields.opened_customer(records.customer(row))

    # -- conversations -------------------------------------------------------------------
    async def create_conversation(self, conversation: Conversation) -> Conversation:
        c = self.fields.sealed_conversation(conversation)
        await self._row(
            "INSERT INTO conversations (id, workspace_id, customer_id, channel, status, "
            "last_seq, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            c.id, c.workspace_id, c.customer_id, c.channel, ConversationStatus(c.status).value,
            c.metadata, c.created_at, c.updated_at,
            conflict=f"Conversation {c.id!r} already exists.",
            missing="Unknown workspace or customer for this conversation.",
        )  # fmt: skip
        conversation.last_seq = 0
        return conversation

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = await self._row("SELECT * FROM conversations WHERE id = ?", conversation_id)
        return self.fields.opened_conversation(records.conversation(row)) if row else None

    async def set_status(self, conversation_id: str, status: ConversationStatus) -> Conversation:
        row = await self._row(
            "UPDATE conversations SET status = ?, updated_at = ? WHERE id = ? RETURNING *",
            ConversationStatus(status).value,
            utcnow(),
            conversation_id,
        )
        if row is None:
            raise NotFound(f"Unknown conversation {conversation_id!r}.")
        return self.fields.opened_conversation(records.conversation(row))

    async def update_conversation_metadata(
        self, conversation_id: str, metadata: dict[str, Any]
    ) -> Conversation:
        metadata = self.fields.sealed_metadata(conversation_id, metadata)
        # One statement: add the set keys, then drop the keys set to None.
        row = await self._row(
            "UPDATE conversations SET metadata = (metadata || ?::jsonb) - ?::text[], "
            "updated_at = ? WHERE id = ? RETURNING *",
            {k: v for k, v in metadata.items() if v is not None},
            [k for k, v in metadata.items() if v is None],
            utcnow(),
            conversation_id,
        )
        if row is None:
            raise NotFound(f"Unknown conversation {conversation_id!r}.")
        return self.fields.opened_conversation(records.conversation(row))

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
            where, args = where + " AND status = ?", [*args, ConversationStatus(status).value]
        rows = await self._rows(
            f"SELECT * FROM conversations WHERE {where} "
            "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?",
            *args,
            limit,
            offset,
        )
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
        m = Message(
            id=records.new_id(),
            conversation_id=conversation_id,
            seq=0,
            author=Author(author),
            text=text,
            client_id=client_id,
            reply_to=reply_to,
            meta=dict(meta or {}),
        )
        # The UPDATE locks the conversation row until commit, so concurrent appends take
        # turns and each sees the previous one's last_seq.
        row = await self._row(
            "WITH bumped AS (UPDATE conversations SET last_seq = last_seq + 1, updated_at = ? "
            "WHERE id = ? RETURNING last_seq) "
            "INSERT INTO messages (id, conversation_id, seq, author, text, client_id, "
            "reply_to, meta, created_at) "
            "SELECT ?, ?, bumped.last_seq, ?, ?, ?, ?, ?, ? FROM bumped RETURNING seq",
            m.created_at, conversation_id,
            m.id, conversation_id, m.author.value,
            self.fields.seal("messages", "text", m.id, text), client_id, reply_to,
            self.fields.sealed_meta(m.id, m.meta),
            m.created_at,
            conflict=f"client_id {client_id!r} was already used in this conversation.",
            missing=f"reply_to names an unknown message {reply_to!r}.",
        )  # fmt: skip
        if row is None:
            raise NotFound(f"Unknown conversation {conversation_id!r}.")
        m.seq = row["seq"]
        return m

    async def get_message_by_client_id(
        self, conversation_id: str, client_id: str
    ) -> Message | None:
        row = await self._row(
            "SELECT * FROM messages WHERE conversation_id = ? AND client_id = ?",
            conversation_id,
            client_id,
        )
        return self.fields.opened_message(records.message(row)) if row else None

    async def list_messages(
        self, conversation_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[Message]:
        rows = await self._rows(
            "SELECT * FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            conversation_id,
            after,
            limit,
        )
        return [self.fields.opened_message(records.message(r)) for r in rows]

    async def replies_to(self, message_id: str) -> list[Message]:
        rows = await self._rows(
            "SELECT * FROM messages WHERE reply_to = ? ORDER BY conversation_id, seq", message_id
        )
        return [self.fields.opened_message(records.message(r)) for r in rows]

    async def update_message_meta(self, message_id: str, meta: dict[str, Any]) -> None:
        row = await self._row(
            "UPDATE messages SET meta = meta || ?::jsonb WHERE id = ? RETURNING id",
            self.fields.sealed_meta(message_id, meta),  # an attachment's name: sealed
            message_id,
        )
        if row is None:
            raise NotFound(f"Unknown message {message_id!r}.")

    # -- a whole turn (statements in pg_turn.py) -----------------------------------------
    async def load_turn(
        self, conversation_id: str, client_id: str | None
    ) -> tuple[Conversation | None, Message | None]:
        row = await self._row(pg_turn.LOAD_TURN, client_id, conversation_id)
        opened = self.fields.opened_conversation(records.conversation(row)) if row else None
        if opened is None or row["seen_id"] is None:
            return opened, None
        # A retried send: rare, so a second query is fine.
        seen = await self.get_message_by_client_id(conversation_id, client_id or "")
        return opened, seen

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
        row = await self._row(
            pg_turn.RECORD_TURN_CANCELLING if cancel else pg_turn.RECORD_TURN,
            *pg_turn.record_turn_args(
                conversation_id,
                [self.fields.sealed_message(m) for m in messages],
                status,
                [
                    (kind, self.fields.sealed_event("", conversation_id, kind, data))
                    for kind, data in events
                ],
                utcnow(),
                self.fields.sealed_metadata(conversation_id, metadata or {}),
                [self.fields.sealed_outbox(item) for item in outbox],
            ),
            *(pg_turn.cancel_args(cancel, utcnow()) if cancel else ()),
            **records.turn_errors(messages),
        )
        if row is None:
            raise NotFound(f"Unknown conversation {conversation_id!r}.")
        conversation = self.fields.opened_conversation(records.conversation(row))
        # The statement numbered the messages in list order, ending at last_seq.
        for offset, message in enumerate(reversed(messages)):
            message.seq = conversation.last_seq - offset
        return conversation

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
        row = await self._row(
            "INSERT INTO events (workspace_id, conversation_id, type, data, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            workspace_id, conversation_id, type,
            self.fields.sealed_event(workspace_id, conversation_id, type, event.data),
            event.created_at,
            missing="Unknown workspace or conversation for this event.",
        )  # fmt: skip
        event.id = row["id"]
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
        for clause, value in (
            ("type = ?", type),
            ("conversation_id = ?", conversation_id),
            ("created_at >= ?", records.as_utc(since) if since else None),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        rows = await self._rows(
            f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", *args, limit
        )
        return [records.event(self.fields.opened_event_row(r)) for r in rows]

    # -- SqlDatabase ---------------------------------------------------------------------
    async def execute(self, sql: str, *args: Any) -> int:
        async with self._session() as conn:
            return await PgExecutor(conn).execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._session() as conn:
            await PgExecutor(conn).executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self._session() as conn:
            return await PgExecutor(conn).fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        async with self._session() as conn:
            return await PgExecutor(conn).fetchrow(sql, *args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlExecutor]:
        async with pool_transaction(self._require()) as tx:
            tx.fields = self.fields
            yield tx
