"""Return visits in conversation scripts: the store side of "the same verified customer, a
first conversation that resolves, then a second one days later" (scripts.py, ``earlier``).

    async with Visits(workspace) as visits:
        customer = await visits.customer("cust-li", "Li Wei")
        first = await visits.conversation(customer, verified=True)
        await visits.record(first, Author.CUSTOMER, "where is ORD-10236?", {})
        await visits.resolved(first, days_ago=6)
        await visits.remember()                     # inbox/memory.py: summarised, embedded
        back = await visits.conversation(customer, verified=True)
        facts = await visits.recall(turn)           # previous_case.remembered

Everything goes through the product's own code on a throw-away SQLite database: the memories
are made by ``inbox.memory.catch_up`` as the worker makes them, read by
``previous_case`` (``load`` and ``remembered``) as the assistant reads them, and erased by
``customer_data.erase_customer`` as the privacy API erases them, so a script proves what a
deployment would do, not a stand-in.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from smartsupport import customer_data, previous_case
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Workspace,
    utcnow,
)
from smartsupport.identity import conversation_identity
from smartsupport.ids import new_id
from smartsupport.inbox import memory
from smartsupport.services import Services, open_services
from smartsupport.settings import Settings
from smartsupport.storage.base import SqlDatabase
from smartsupport.turn import Turn
from smartsupport.workspaces import WorkspaceConfig


class Visits:
    """A temporary database holding one customer's conversations across visits."""

    def __init__(self, workspace: WorkspaceConfig) -> None:
        self.workspace = workspace
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._services: Services | None = None

    async def __aenter__(self) -> Visits:
        self._dir = tempfile.TemporaryDirectory(prefix="smartsupport-visits-")
        root = Path(self._dir.name)
        settings = Settings(
            data_dir=root,
            database_url="sqlite:///:memory:",  # keys of this process only: nothing left behind
            demo=False,
            secret_key=SecretStr("conversation-script-visits"),
        )
        try:
            self._services = await open_services(settings)
            await self._services.store.upsert_workspace(
                Workspace(id=self.workspace.id, name=self.workspace.name, config={})
            )
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            if self._services is not None:
                await self._services.close()
        finally:
            if self._dir is not None:
                self._dir.cleanup()

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("Visits is used outside its 'async with' block")
        return self._services

    async def customer(self, external_id: str, name: str | None) -> Customer:
        """The customer's record, as a verified identity creates it (``external_id``)."""
        return await self.services.store.create_customer(
            Customer(new_id(), self.workspace.id, external_id=external_id, name=name)
        )

    async def conversation(
        self, customer: Customer, *, verified: bool, segment: str | None = None
    ) -> Conversation:
        """A new conversation of ``customer``; ``verified``: it carries the signed identity
        (an unverified one is the same person's record reached without proof)."""
        identity = (
            {"identity": conversation_identity(customer.external_id, segment)}
            if verified and customer.external_id
            else {}
        )
        return await self.services.store.create_conversation(
            Conversation(new_id(), self.workspace.id, customer.id, metadata=identity)
        )

    async def record(
        self, conversation: Conversation, author: Author, text: str, meta: dict[str, Any]
    ) -> None:
        """Store one message with the meta the conversation path gives it (a customer's: the
        NLU's reading, ``remembered.language``; a reply's: its flow step and buttons)."""
        await self.services.store.append_message(conversation.id, author, text, meta=meta)

    async def resolved(self, conversation: Conversation, *, days_ago: float) -> None:
        """The visit ended resolved ``days_ago`` days before now (the clock of the script)."""
        store = self.services.store
        await store.set_status(conversation.id, ConversationStatus.RESOLVED)
        then = utcnow() - timedelta(days=days_ago)
        assert isinstance(store, SqlDatabase)  # open_services opens SQL stores only
        await store.execute(
            "UPDATE conversations SET created_at = ?, updated_at = ? WHERE id = ?",
            then,
            then,
            conversation.id,
        )

    async def remember(self) -> int:
        """Summarise and embed the resolved conversations, as the worker does."""
        return await memory.catch_up(self.services.store)

    async def recall(self, turn: Turn) -> dict[str, Any] | None:
        """What a flow starting on ``turn`` sees as ``remembered``."""
        return await previous_case.remembered(self.services.store, turn)

    async def case(self, turn: Turn) -> previous_case.Case | None:
        """The earlier case ``turn`` refers to, as the assistant reads it (previous_case.py)."""
        return await previous_case.load(self.services.store, turn)

    async def handed_over(self, conversation: Conversation, ticket: dict[str, Any] | None) -> None:
        """The visit was handed to a person (the metadata a handoff rule sets) and, with
        ``ticket``, a helpdesk ticket was opened for it and reported back with its status
        (helpdesk/ticket_status.py keeps it as ``metadata.ticket``)."""
        changes: dict[str, Any] = {"escalation": {"reason": "script", "action": "transfer"}}
        if ticket is not None:
            changes["ticket"] = dict(ticket)
        await self.services.store.update_conversation_metadata(conversation.id, changes)

    async def erase(self, customer: Customer) -> None:
        """The customer asked for erasure: the privacy API's own transaction."""
        await customer_data.erase_customer(self.services, customer.id, actor="conversation-script")
