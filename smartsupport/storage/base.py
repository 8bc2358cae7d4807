"""The durable store: workspaces, customers, conversations, messages and the event log.

One abstract class, one module per backend (``sqlite.py``, ``postgres.py``), chosen by the
scheme of ``SMARTSUPPORT_DATABASE_URL`` in ``storage/__init__.py``. The same contract test
suite (tests/test_storage.py) runs against every backend.

Every method is one transaction: it either happens entirely or not at all. Driver errors are
translated into ``smartsupport.errors`` at this boundary.

Every backend is also a ``SqlDatabase``: a small shared-SQL door so later features (knowledge
base, staff accounts) can keep their own tables, created by their own numbered migration
files, without growing the ``Store`` class.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Literal

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
from smartsupport.storage.fields import PLAINTEXT, FieldCipher

# Work for the outbox (outbox.py runs it). One statement for every writer: a turn's record
# and ``outbox.enqueue``. Idempotent on the key: ON CONFLICT rather than catching the error,
# since inside a PostgreSQL transaction a unique violation would abort the whole transaction.
OUTBOX_INSERT = (
    "INSERT INTO outbox (id, workspace_id, kind, idempotency_key, payload, status, "
    "attempts, next_attempt_at, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING"
)


def outbox_row(id: str, workspace_id: str, item: OutboxItem, now: datetime) -> tuple[Any, ...]:
    """The parameters of OUTBOX_INSERT. Work due later (a reminder in two weeks) is dated
    from its due time: the outbox's give-up age and its oldest-pending metric count from
    then (pg_turn.RECORD_TURN does the same)."""
    due = item.not_before or now
    return (
        id, workspace_id, item.kind, item.idempotency_key, item.payload,
        due, max(due, now), now,
    )  # fmt: skip


class SqlExecutor(abc.ABC):
    """Runs SQL written once for both dialects.

    Placeholders are ``?`` on every backend (PostgreSQL gets them rewritten to ``$1..$n``;
    a ``?`` inside a quoted literal, identifier or comment is left alone, so PostgreSQL's
    jsonb ``?`` operators cannot be used: call ``jsonb_exists()`` instead). Parameters and
    results use the same Python types on both: ``str``, ``int``, ``float``, ``bool``,
    ``None``, timezone-aware ``datetime`` (columns declared ``TIMESTAMPTZ``) and ``dict`` /
    ``list`` (columns declared ``JSON`` in SQLite, ``JSONB`` in PostgreSQL). Driver errors
    come out as ``smartsupport.errors`` (a unique violation is ``Conflict``).

    ``fields`` seals and opens the encrypted columns (storage/fields.py); a transaction
    carries its database's.
    """

    fields: FieldCipher = PLAINTEXT

    @abc.abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the number of rows it changed."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters, all in one transaction."""

    @abc.abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Every result row as a dict keyed by column name."""

    @abc.abstractmethod
    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        """The first result row, or None."""


class SqlDatabase(SqlExecutor):
    """The shared-SQL helper every store backend implements.

    Outside ``transaction()`` each call is its own transaction. Inside it, use only the
    object it yields: on SQLite the single writer connection belongs to the transaction
    until it ends, so a call on the database itself from the same task would wait forever
    (it raises ``BackendError`` instead).
    """

    dialect: Literal["sqlite", "postgresql"]

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[SqlExecutor]:
        """``async with db.transaction() as tx:`` commits when the block ends and rolls
        back when it raises."""


class Store(abc.ABC):
    """Durable storage. Open with ``connect()``, release with ``close()``."""

    url: str

    # -- lifecycle -----------------------------------------------------------------------
    @abc.abstractmethod
    async def connect(self) -> None:
        """Open connections. Raises BackendUnavailable when the database cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection. Safe to call twice."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Round-trip to the database; raises BackendUnavailable when it does not answer."""

    @abc.abstractmethod
    async def migrate(self) -> list[int]:
        """Apply pending schema migrations in order; return the versions applied now."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""

    @abc.abstractmethod
    async def pending_migrations(self) -> list[int]:
        """Versions shipped with this release but not yet applied."""

    # -- workspaces ----------------------------------------------------------------------
    @abc.abstractmethod
    async def upsert_workspace(self, workspace: Workspace) -> Workspace:
        """Create the workspace or replace its name and config."""

    @abc.abstractmethod
    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        """The workspace, or None."""

    @abc.abstractmethod
    async def list_workspaces(self) -> list[Workspace]:
        """All workspaces ordered by id."""

    # -- customers -----------------------------------------------------------------------
    @abc.abstractmethod
    async def create_customer(self, customer: Customer) -> Customer:
        """Store a new customer. Raises Conflict when (workspace, external_id) exists."""

    @abc.abstractmethod
    async def get_customer(self, customer_id: str) -> Customer | None:
        """The customer, or None."""

    @abc.abstractmethod
    async def find_customer(self, workspace_id: str, external_id: str) -> Customer | None:
        """The customer with this external user id in the workspace, or None."""

    @abc.abstractmethod
    async def update_customer(self, customer: Customer) -> Customer:
        """Replace the customer's mutable fields (name, email, locale, segment, metadata)."""

    # -- conversations -------------------------------------------------------------------
    @abc.abstractmethod
    async def create_conversation(self, conversation: Conversation) -> Conversation:
        """Store a new conversation (last_seq 0)."""

    @abc.abstractmethod
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation, or None."""

    @abc.abstractmethod
    async def set_status(self, conversation_id: str, status: ConversationStatus) -> Conversation:
        """Change the status; raises NotFound for an unknown conversation."""

    @abc.abstractmethod
    async def update_conversation_metadata(
        self, conversation_id: str, metadata: dict[str, Any]
    ) -> Conversation:
        """Merge ``metadata`` into the conversation's metadata (keys set to None are removed)."""

    @abc.abstractmethod
    async def list_conversations(
        self,
        workspace_id: str,
        *,
        status: ConversationStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Conversation]:
        """Conversations of a workspace, most recently updated first."""

    # -- messages ------------------------------------------------------------------------
    @abc.abstractmethod
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
        """Store a message with the next sequence number of its conversation and bump the
        conversation's ``last_seq`` and ``updated_at`` in the same transaction.

        Raises NotFound for an unknown conversation and Conflict when ``client_id`` was
        already used in this conversation (look it up with ``get_message_by_client_id``).
        """

    @abc.abstractmethod
    async def get_message_by_client_id(
        self, conversation_id: str, client_id: str
    ) -> Message | None:
        """The message the client sent with this id, or None."""

    @abc.abstractmethod
    async def list_messages(
        self, conversation_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[Message]:
        """Messages with ``seq > after`` in sequence order, at most ``limit``."""

    @abc.abstractmethod
    async def replies_to(self, message_id: str) -> list[Message]:
        """Messages whose ``reply_to`` is this message, in sequence order."""

    @abc.abstractmethod
    async def update_message_meta(self, message_id: str, meta: dict[str, Any]) -> None:
        """Merge ``meta`` into the message's meta; raises NotFound for an unknown message."""

    # -- a whole turn --------------------------------------------------------------------
    @abc.abstractmethod
    async def load_turn(
        self, conversation_id: str, client_id: str | None
    ) -> tuple[Conversation | None, Message | None]:
        """The conversation (or None) and, when ``client_id`` is given, the message the
        client already sent with it (or None): what a turn reads first, in one query."""

    @abc.abstractmethod
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
        """A turn's writes in one transaction: append ``messages`` (built by the caller,
        ``seq`` ignored) with the next sequence numbers in list order, setting each one's
        ``seq``; change the status when ``status`` is given; merge ``metadata`` into the
        conversation's (top-level keys; a key set to None is removed); append ``events``
        (type, data) in order to the event log of the conversation's workspace; enqueue
        ``outbox`` work for the conversation's workspace (an item whose key exists is
        skipped); call back the pending work ``cancel`` names (``OutboxCancel``: finished
        unrun with its result, unless a worker holds it). Returns the conversation
        afterwards (``last_seq``, ``status``, ``metadata``, ``updated_at``).

        Raises NotFound for an unknown conversation (or an unknown ``reply_to``, which may
        name an earlier message of the same list) and Conflict when a ``client_id`` was
        already used in this conversation; nothing is stored then.
        """

    # -- events --------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_event(
        self,
        workspace_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
    ) -> Event:
        """Append to the event log; ids increase."""

    @abc.abstractmethod
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
        """Events in id order, filtered as given."""
