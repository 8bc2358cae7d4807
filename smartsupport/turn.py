"""One customer turn as data: what the assistant may look at (``Turn``) and everything it
decided (``Decision``), effects included.

Deciding is pure: the assistant reads, it never writes or calls out. Every effect of a turn
(replies, status, the reason for a handoff, conversation metadata such as priority and LLM
usage, events, and work for the outbox such as Slack/Teams notices) travels in the
``Decision`` and is written by ``store.record_turn`` in the turn's one transaction, then
published. A turn that fails to store leaves nothing behind: no raised priority, no notice.

``Responder`` is the contract the conversation path calls; ``assistant.Assistant`` is the
real one and ``keywords.KeywordBot`` the small offline one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartsupport.context import ConversationContext
from smartsupport.domain import (
    Conversation,
    ConversationStatus,
    Message,
    OutboxCancel,
    OutboxItem,
    Reply,
    Understanding,
)
from smartsupport.workspaces import WorkspaceConfig

# Publishes the next piece of a reply being generated (streamed to the widget).
Stream = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class Turn:
    """Everything the assistant may look at for one customer message."""

    workspace: WorkspaceConfig
    conversation: Conversation
    message: Message
    context: ConversationContext
    understanding: Understanding
    stream: Stream


@dataclass(slots=True)
class Decision:
    """The replies and every effect of one turn, written together by ``record_turn``."""

    replies: list[Reply] = field(default_factory=list)
    status: ConversationStatus | None = None
    reason: str | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Merged into the conversation's metadata (a key set to None is removed).
    metadata: dict[str, Any] = field(default_factory=dict)
    # Enqueued in the outbox in the same transaction (idempotent on the item's key).
    outbox: list[OutboxItem] = field(default_factory=list)
    # Pending outbox work called back in the same transaction (a flow's cancel_message).
    cancel: list[OutboxCancel] = field(default_factory=list)

    def merge(self, other: Decision) -> Decision:
        """Add ``other``'s effects to this decision's (replies appended; ``other`` wins on
        status and reason when it sets them)."""
        self.replies += other.replies
        self.status = other.status if other.status is not None else self.status
        self.reason = other.reason or self.reason
        self.events += other.events
        self.metadata.update(other.metadata)
        self.outbox += other.outbox
        self.cancel += other.cancel
        return self


class Responder(Protocol):
    """What the conversation path asks for each customer message."""

    async def understand(
        self, workspace: WorkspaceConfig, text: str, context: ConversationContext
    ) -> Understanding: ...

    async def decide(self, turn: Turn) -> Decision: ...

    def recorded(
        self, workspace: WorkspaceConfig, message: Message, understanding: Understanding
    ) -> None:
        """The turn's writes are committed: work that refers to them starts here (the review's
        shadow comparison). Returns at once: the conversation's lock is still held."""

    async def close(self) -> None: ...
