"""Domain objects: plain dataclasses with no I/O. Stores return them; the API serialises them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


class ConversationStatus(enum.StrEnum):
    BOT = "bot"
    WAITING = "waiting_for_agent"
    WITH_AGENT = "with_agent"
    RESOLVED = "resolved"


class Author(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


@dataclass(slots=True)
class Workspace:
    id: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Customer:
    id: str
    workspace_id: str
    external_id: str | None = None
    name: str | None = None
    email: str | None = None
    locale: str | None = None
    channel: str = "web"
    segment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Conversation:
    id: str
    workspace_id: str
    customer_id: str
    channel: str = "web"
    status: ConversationStatus = ConversationStatus.BOT
    last_seq: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Message:
    """One stored message. ``seq`` is dense and increasing within its conversation."""

    id: str
    conversation_id: str
    seq: int
    author: Author
    text: str
    client_id: str | None = None
    reply_to: str | None = None
    # What the assistant understood or did: language, intent, entities, sentiment,
    # quick replies, citations, which answer step produced a bot reply, ...
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class Event:
    """An append-only audit and analytics record."""

    id: int
    workspace_id: str
    conversation_id: str | None
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True)
class IncomingMessage:
    """What every channel turns its payload into before calling ``handle_message``."""

    conversation_id: str
    text: str
    client_id: str | None = None
    channel: str = "web"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Reply:
    """One thing the assistant decided to say."""

    text: str
    quick_replies: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class OutboxItem:
    """Work for the outbox (a ticket, a notice, a channel delivery), written in the same
    transaction as the change that needs it; enqueueing is idempotent on the key."""

    kind: str
    payload: dict[str, Any]
    idempotency_key: str
    not_before: datetime | None = None


@dataclass(slots=True)
class OutboxCancel:
    """Pending outbox work called back in the same transaction as the change that decided
    so (a flow's ``cancel_message`` step): the conversation's workspace's rows of ``kind``
    whose key is ``key`` (or starts with it, ``prefix``), still pending and held by no
    worker, are finished unrun with ``result`` saying why. The key stays used."""

    kind: str
    key: str
    prefix: bool = False
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TurnResult:
    """The stored customer message and the replies it produced (empty when an agent holds
    the conversation). A retried ``client_id`` returns the same result."""

    message: Message
    replies: list[Message]
    conversation: Conversation
    duplicate: bool = False


@dataclass(slots=True)
class Entity:
    """Something recognised in a message, with its character span ``text[start:end]``."""

    type: str
    value: Any
    start: int
    end: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }


@dataclass(slots=True)
class Understanding:
    """What the assistant made of one customer message."""

    language: str = "en"
    intent: str | None = None
    confidence: float = 0.0
    out_of_scope: bool = False
    entities: list[Entity] = field(default_factory=list)
    sentiment: float = 0.0
    source: str = "none"  # which part decided the intent: rule, model, keyword, ...
    ranking: list[tuple[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "out_of_scope": self.out_of_scope,
            "entities": [e.as_dict() for e in self.entities],
            "sentiment": round(self.sentiment, 4),
            "source": self.source,
            "ranking": [[name, round(score, 4)] for name, score in self.ranking[:5]],
        }


@dataclass(slots=True)
class Passage:
    """A retrieved piece of a help article: what answers are grounded in and cite."""

    id: str
    article_id: str
    title: str
    text: str
    url: str | None = None
    locale: str = "en"
    score: float = 0.0
    section: str | None = None
    # The sentence an answer from this passage is built around (knowledge.answerability).
    focus: str | None = None
    position: int = 0  # its place in the article, for answers joining two of its parts
