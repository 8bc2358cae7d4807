"""How domain objects look on the wire (REST bodies, WebSocket frames, pub/sub messages)."""

from __future__ import annotations

from typing import Any

from smartsupport.domain import Message


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
    }


def conversation_channel(conversation_id: str) -> str:
    """The pub/sub channel on which a conversation's live events are published."""
    return f"conversation:{conversation_id}"


def inbox_channel(workspace_id: str) -> str:
    """The pub/sub channel on which agents' inboxes learn that a workspace's queue changed."""
    return f"inbox:{workspace_id}"
