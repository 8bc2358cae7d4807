"""Conversation context: the short-lived dialogue state kept between two turns.

It lives in the backplane (memory or Redis) under ``session:<conversation id>`` and expires
after ``session_ttl_seconds`` without a save. Losing it is safe: the conversation and its
messages are in the database; only the dialogue position (slots, active flow, counters)
starts over. Stored as JSON; keys written by a newer version are ignored, not fatal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from smartsupport.backplane.base import Backplane
from smartsupport.domain import utcnow

log = logging.getLogger(__name__)

KEY_PREFIX = "session:"
MAX_INTENTS = 10


@dataclass
class ConversationContext:
    """Where one conversation stands. Plain data; the caller saves it after each turn."""

    conversation_id: str
    state: str = "start"
    slots: dict[str, Any] = field(default_factory=dict)
    last_intents: list[str] = field(default_factory=list)  # most recent last, bounded
    counters: dict[str, int] = field(default_factory=dict)  # e.g. fallbacks, repeats
    data: dict[str, Any] = field(default_factory=dict)  # per-feature state (active flow...)
    updated_at: datetime = field(default_factory=utcnow)

    def remember_intent(self, intent: str) -> None:
        self.last_intents.append(intent)
        del self.last_intents[:-MAX_INTENTS]

    def bump(self, counter: str, by: int = 1) -> int:
        """Add ``by`` to ``counter`` and return the new value."""
        self.counters[counter] = self.counters.get(counter, 0) + by
        return self.counters[counter]

    def reset(self, counter: str) -> None:
        self.counters.pop(counter, None)

    def to_json(self) -> bytes:
        # Not ``asdict``: its deep copy of every nested value cost more than the encoding,
        # on every turn. The fields are JSON already (``from_json`` reads them back).
        doc = {f.name: getattr(self, f.name) for f in _FIELDS}
        doc["updated_at"] = self.updated_at.isoformat()
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> ConversationContext:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise TypeError("a session context must be a JSON object")
        known = {f.name for f in _FIELDS}
        doc = {k: v for k, v in doc.items() if k in known}  # newer versions may add keys
        if "updated_at" in doc:
            doc["updated_at"] = datetime.fromisoformat(doc["updated_at"])
        ctx = cls(**doc)
        if not (
            isinstance(ctx.state, str)
            and isinstance(ctx.slots, dict)
            and isinstance(ctx.last_intents, list)
            and isinstance(ctx.counters, dict)
            and isinstance(ctx.data, dict)
        ):
            raise TypeError("a session context field has the wrong type")
        del ctx.last_intents[:-MAX_INTENTS]
        return ctx


_FIELDS = fields(ConversationContext)


class ContextStore:
    """Loads and saves ConversationContext in a backplane, with an idle TTL."""

    def __init__(self, backplane: Backplane, ttl_seconds: float = 24 * 3600) -> None:
        self.backplane = backplane
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def key(conversation_id: str) -> str:
        """The backplane key of a conversation's context."""
        return KEY_PREFIX + conversation_id

    async def load(self, conversation_id: str) -> ConversationContext:
        """The saved context, or a fresh one when it is missing, expired or unreadable."""
        return self.parse(conversation_id, await self.backplane.get(self.key(conversation_id)))

    def parse(self, conversation_id: str, raw: bytes | None) -> ConversationContext:
        """The context stored as ``raw`` (what ``load`` reads), or a fresh one."""
        if raw is None:
            return ConversationContext(conversation_id)
        try:
            ctx = ConversationContext.from_json(raw)
        except (ValueError, TypeError, KeyError) as exc:
            # Starting the dialogue over beats failing every turn of this conversation.
            log.warning("discarding unreadable context of %s: %s", conversation_id, exc)
            return ConversationContext(conversation_id)
        ctx.conversation_id = conversation_id
        return ctx

    async def save(self, ctx: ConversationContext) -> None:
        """Store ``ctx`` (stamping ``updated_at``); it expires after the TTL without a save."""
        await self.backplane.set(*self.entry(ctx))

    def entry(self, ctx: ConversationContext) -> tuple[str, bytes, float]:
        """What ``save`` writes, as (key, value, ttl_seconds), for ``Held.on_release``;
        stamps ``updated_at``."""
        ctx.updated_at = utcnow()
        return self.key(ctx.conversation_id), ctx.to_json(), self.ttl_seconds

    async def delete(self, conversation_id: str) -> None:
        await self.backplane.delete(self.key(conversation_id))
