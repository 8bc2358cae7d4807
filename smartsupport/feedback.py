"""Ratings of single bot answers: a customer's thumbs up or down in the widget, under an
answer mail, on WhatsApp, by a "1" / "2" reply on SMS or WhatsApp through Twilio, or from a
business's app over the API channel; an agent flagging a bad answer from the inbox (table
``answer_feedback``, migration 0020; the channel it came through, 0043).

One row per (message, source, staff member): rating again replaces the earlier rating, so a
customer who changes their mind is counted once. The row and its ``feedback.given`` event
(kind ``answer``, events/schema.py) are written in one transaction, like every event.
Analytics (``analytics.py``) reads the rows; the review queue reads them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from smartsupport.domain import Author, Conversation, utcnow
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.events.schema import event_items
from smartsupport.ids import new_id
from smartsupport.outbox import enqueue
from smartsupport.services import Services
from smartsupport.storage.base import SqlDatabase

Source = Literal["customer", "agent"]
MAX_REASON = 500


@dataclass(slots=True)
class AnswerRating:
    id: str
    conversation_id: str
    message_id: str
    rating: int
    reason: str | None
    source: Source
    staff_id: str | None
    created_at: datetime
    channel: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "rating": self.rating,
            "reason": self.reason,
            "source": self.source,
            "staff_id": self.staff_id,
            "created_at": self.created_at.isoformat(),
            "channel": self.channel,
        }


def _db(services: Services) -> SqlDatabase:
    return cast(SqlDatabase, services.store)  # every Store backend is a SqlDatabase


def _checked(rating: int, reason: str | None) -> str | None:
    if isinstance(rating, bool) or rating not in (1, -1):
        raise InvalidInput(
            "rating must be 1 (thumbs up) or -1 (thumbs down)", code="invalid_rating"
        )
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput(
            f"the reason is longer than {MAX_REASON} characters", code="reason_too_long"
        )
    return reason


async def rate_answer(
    services: Services,
    conversation: Conversation,
    message_id: str,
    rating: int,
    reason: str | None = None,
    *,
    source: Source = "customer",
    staff_id: str | None = None,
    channel: str | None = None,
) -> AnswerRating:
    """Store (or replace) one rating of the bot message ``message_id`` of ``conversation``.
    ``channel`` is where it was given: by default the conversation's for a customer (the
    widget's thumbs: ``web``), ``inbox`` for an agent.

    NotFound when the message is not in this conversation; InvalidInput when it is not the
    assistant's (only bot answers are rated: an agent's reply is rated by CSAT)."""
    reason = _checked(rating, reason)
    channel = channel or ("inbox" if source == "agent" else conversation.channel)
    db = _db(services)
    message = await db.fetchrow(
        "SELECT author FROM messages WHERE id = ? AND conversation_id = ?",
        message_id,
        conversation.id,
    )
    if message is None:
        raise NotFound(f"no message {message_id!r} in this conversation")
    if message["author"] != Author.BOT.value:
        raise InvalidInput("only the assistant's answers can be rated", code="not_a_bot_answer")
    row = AnswerRating(
        new_id(), conversation.id, message_id, rating, reason, source, staff_id, utcnow(),
        channel,
    )  # fmt: skip
    outbox = event_items(
        bool(services.settings.events_url),
        "feedback.given",
        conversation.workspace_id,
        conversation.id,
        {
            "kind": "answer",
            "rating": rating,
            "has_comment": reason is not None,
            "message_id": message_id,
            "source": source,
            "channel": channel,
        },
    )
    async with db.transaction() as tx:
        # Delete-then-insert rather than an upsert: the uniqueness is on an expression
        # (staff_id may be NULL), which the two dialects' ON CONFLICT targets treat apart.
        await tx.execute(
            "DELETE FROM answer_feedback WHERE message_id = ? AND source = ? "
            "AND COALESCE(staff_id, '') = ?",
            message_id,
            source,
            staff_id or "",
        )
        await tx.execute(
            "INSERT INTO answer_feedback (id, workspace_id, conversation_id, message_id, "
            "rating, reason, source, staff_id, created_at, channel) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row.id,
            conversation.workspace_id,
            conversation.id,
            message_id,
            rating,
            reason,
            source,
            staff_id,
            row.created_at,
            channel,
        )
        for item in outbox:
            await enqueue(tx, conversation.workspace_id, item)
    if outbox:
        services.outbox_due.set()
    return row


async def ratings_of(services: Services, conversation_id: str) -> list[AnswerRating]:
    """Every rating of the conversation's answers, oldest first."""
    rows = await _db(services).fetch(
        "SELECT * FROM answer_feedback WHERE conversation_id = ? ORDER BY created_at, id",
        conversation_id,
    )
    return [
        AnswerRating(
            r["id"],
            r["conversation_id"],
            r["message_id"],
            r["rating"],
            r["reason"],
            r["source"],
            r["staff_id"],
            r["created_at"],
            r["channel"],
        )
        for r in rows
    ]


async def person_involved(services: Services, conversation_id: str) -> bool:
    """Whether a person took part: an agent wrote, or the conversation was ever handed to
    people (the same test analytics uses for containment)."""
    row = await _db(services).fetchrow(
        "SELECT (SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND author = 'agent') "
        "+ (SELECT COUNT(*) FROM events WHERE conversation_id = ? AND type = "
        "'conversation.status' AND "
        + _status_in("data", ("waiting_for_agent", "with_agent"), services)
        + ") AS n",
        conversation_id,
        conversation_id,
    )
    return bool(row and row["n"])


def _status_in(column: str, statuses: tuple[str, ...], services: Services) -> str:
    """SQL: the JSON ``status`` of ``column`` is one of ``statuses`` (literals we own)."""
    quoted = ", ".join(f"'{s}'" for s in statuses)
    if _db(services).dialect == "postgresql":
        return f"({column} ->> 'status') IN ({quoted})"
    return f"json_extract({column}, '$.status') IN ({quoted})"
