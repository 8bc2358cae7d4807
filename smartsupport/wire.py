"""How domain objects look on the wire (REST bodies, WebSocket frames, pub/sub messages)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smartsupport.domain import Author, Message


class MessageOut(BaseModel):
    """A message as the customer sees it (``message_json``): in REST bodies and frames."""

    model_config = ConfigDict(extra="forbid")
    id: str
    conversation_id: str
    seq: int = Field(description="1, 2, 3, ... within the conversation; de-duplicates events")
    author: Author
    text: str = Field(description="Plain text: render it escaped, never as HTML.")
    client_id: str | None = Field(description="The sender's id for an idempotent retry.")
    reply_to: str | None = Field(description="The message this one answers.")
    created_at: str = Field(description="ISO 8601 with the UTC offset.")
    quick_replies: list[str]
    citations: list[dict[str, Any]] = Field(description="Sources of an answer: {title, url}.")
    author_name: str | None = Field(
        default=None,
        description="An agent message's author as the customer sees them: the agent's first "
        "name (live inbox) or the helpdesk author; null for every other message.",
    )


def message_json(message: Message) -> dict[str, Any]:
    """The customer-facing view of a message: internal analysis stays out of it."""
    meta = message.meta
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "author": message.author.value,
        "text": message.text,
        "client_id": message.client_id,
        "reply_to": message.reply_to,
        "created_at": message.created_at.isoformat(),
        "quick_replies": list(meta.get("quick_replies", [])),
        "citations": list(meta.get("citations", [])),
        "author_name": _author_name(message),
    }


def _author_name(message: Message) -> str | None:
    """Customers see an agent's first name, not the full name staff use among themselves."""
    if message.author is not Author.AGENT:
        return None
    name = message.meta.get("agent_name") or message.meta.get("author_name")
    if not isinstance(name, str) or not name.strip():
        return None
    return name.split()[0][:80]


def conversation_channel(conversation_id: str) -> str:
    """The pub/sub channel on which a conversation's live events are published."""
    return f"conversation:{conversation_id}"


def inbox_channel(workspace_id: str) -> str:
    """The pub/sub channel on which agents' inboxes learn that a workspace's queue changed."""
    return f"inbox:{workspace_id}"
