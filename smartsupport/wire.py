"""How domain objects look on the wire (REST bodies, WebSocket frames, pub/sub messages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smartsupport.domain import Author, Message
from smartsupport.rich import blocks, dump


class AttachmentOut(BaseModel):
    """A file a message lists. ``url`` downloads it with the same bearer token as the other
    routes; it is always sent as a download (Content-Disposition: attachment, nosniff)."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(description="null for a file that was refused (too large)")
    filename: str
    content_type: str
    kind: str = Field(description="image, pdf, audio or file")
    size: int
    url: str | None = Field(description="null for a file that was refused (too large)")


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
    form: str | None = Field(
        default=None,
        description="'contact' on a bot message that asks for an email address and a "
        "question (offline hours, overflow): the widget shows the contact form under it.",
    )
    rich: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Rich blocks shown with the text (docs/protocol.md, rich.py): buttons "
        "(postback or link), card, carousel, image, file. The text alone still reads whole.",
    )
    attachments: list[AttachmentOut] = Field(
        default_factory=list, description="Files sent with the message (uploads, voice notes)."
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
        "form": _form(message),
        "rich": dump(blocks(meta)),
        "attachments": attachments_json(message),
    }


def attachments_json(
    message: Message, url: Callable[[str], str] | None = None
) -> list[dict[str, Any]]:
    """The files a message lists, with the download path of stored ones: the visitor's by
    default, ``url(attachment_id)`` for another audience (the inbox)."""
    if url is None:
        cid = message.conversation_id
        url = lambda aid: f"/api/v1/conversations/{cid}/attachments/{aid}"  # noqa: E731
    found = []
    for item in message.meta.get("attachments") or []:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            continue
        stored = bool(item.get("stored")) and isinstance(item.get("id"), str)
        found.append(
            {
                "id": item["id"] if stored else None,
                "filename": item["filename"],
                "content_type": str(item.get("content_type") or "application/octet-stream"),
                "kind": str(item.get("kind") or "file"),
                "size": int(item.get("size") or 0),
                "url": url(item["id"]) if stored else None,
            }
        )
    return found


def _form(message: Message) -> str | None:
    """The form the widget shows under a bot message (only ours: a customer's meta says
    which form a question came from, which is no form to show)."""
    if message.author is Author.BOT and message.meta.get("form") == "contact":
        return "contact"
    return None


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
