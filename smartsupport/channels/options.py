"""Numbered options on channels without buttons, and a number back.

The plain-text form and the mapping are the rich-message model's (``rich.numbered``: the
text, cards as lines, each postback and quick reply as "N. title"; ``rich.choice``: "2",
"2." or the option's own words -> what it means). This module adds what a channel needs
around them: the options a customer's answer may refer to are those of our latest
messages since the customer last wrote (``last_choices``), and ``chosen`` turns the answer
into the option's text before the conversation path sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smartsupport import rich
from smartsupport.domain import Author, IncomingMessage, Message


def last_choices(history: Sequence[Message]) -> dict[str, str]:
    """The numbered choices of our latest message that offered any, since the customer
    last wrote (an empty dict once they have answered)."""
    for message in reversed(history):
        if message.author is Author.CUSTOMER:
            return {}
        if message.author in (Author.BOT, Author.AGENT):
            found = rich.numbered(message.text, message.meta).choices
            if found:
                return found
    return {}


def chosen(text: str, choices: Mapping[str, str]) -> str:
    """The option a numbered answer names, else the customer's own words unchanged."""
    if not choices:
        return text
    return rich.choice(text, choices) or text


def incoming(
    channel: str,
    conversation_id: str,
    text: str,
    *,
    client_id: str,
    choices: Mapping[str, str],
    metadata: dict[str, Any],
) -> list[IncomingMessage]:
    """A messaging provider's inbound message as the conversation path's one message (none
    for an empty one: a bare reaction or status). ``client_id`` names the provider's
    message, so a webhook the provider retries stores one message."""
    if not text.strip():
        return []
    return [
        IncomingMessage(
            conversation_id=conversation_id,
            text=chosen(text, choices),
            client_id=client_id,
            channel=channel,
            metadata=metadata,
        )
    ]


def quick_replies(message: Message) -> list[str]:
    replies = message.meta.get("quick_replies") or []
    return [str(r) for r in replies if isinstance(r, str) and r.strip()]
