"""The review queue's raw material: customer messages the assistant misunderstood.

A message is in the queue, with every reason that applies, when within the window it was

    out_of_scope       the intent model found no intent (a flow's own question aside)
    low_confidence     the model's intent had a calibrated confidence below the setting
    negative_feedback  the customer gave the bot's answer to it a thumbs down
    agent_flag         an agent flagged the bot's answer to it from the inbox
    escalated          it was the last message the bot answered before the conversation
                       went to people

and no reviewer has decided about it yet. Feedback is read from ``answer_feedback`` (the
analytics migration 0020); without that table the two feedback reasons are simply absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smartsupport.domain import utcnow
from smartsupport.errors import BackendError
from smartsupport.review.store import ReviewStore, message_text

MAX_SCANNED = 5000  # newest customer messages looked at per build of the queue
# Decisions that mean the turn was understood in its context (a flow's slot, small talk).
UNDERSTOOD_IN_CONTEXT = ("flow", "small_talk")
REASON_LABELS = {
    "out_of_scope": "out of scope",
    "low_confidence": "low confidence",
    "negative_feedback": "thumbs down",
    "agent_flag": "flagged by an agent",
    "escalated": "escalated after a bot answer",
}


@dataclass(slots=True)
class Misunderstood:
    message_id: str
    conversation_id: str
    text: str
    created_at: datetime
    intent: str | None  # the model's best guess, when it had one
    confidence: float
    reasons: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "reasons": sorted(self.reasons),
        }


async def misunderstood(
    store: object, workspace_id: str, *, days: int = 30, low_confidence: float = 0.5
) -> list[Misunderstood]:
    """Every undecided misunderstood customer message of the last ``days``, newest first."""
    review = ReviewStore(store)
    since = utcnow() - timedelta(days=days)
    found: dict[str, Misunderstood] = {}
    for row in await _turns(review, workspace_id, since):
        nlu = (row["meta"] or {}).get("nlu") or {}
        decision = (row["reply_meta"] or {}).get("decision")
        if not nlu or nlu.get("source") == "no_text" or decision in UNDERSTOOD_IN_CONTEXT:
            continue
        reason = None
        if nlu.get("out_of_scope") and nlu.get("source") in ("model", "none"):
            reason = "out_of_scope"
        elif nlu.get("source") == "model" and float(nlu.get("confidence") or 0) < low_confidence:
            reason = "low_confidence"
        if reason:
            _add(review.db, found, row, reason)
    for row in await _feedback(review, workspace_id, since):
        reason = "agent_flag" if row["source"] == "agent" else "negative_feedback"
        _add(review.db, found, row, reason)
    for row in await _escalated(review, workspace_id, since):
        _add(review.db, found, row, "escalated")
    decided = await review.decided_message_ids(workspace_id)
    items = [m for m in found.values() if m.message_id not in decided]
    return sorted(items, key=lambda m: (m.created_at, m.message_id), reverse=True)


def _add(db: object, found: dict[str, Misunderstood], row: dict[str, Any], reason: str) -> None:
    item = found.get(row["id"])
    if item is None:
        nlu = (row.get("meta") or {}).get("nlu") or {}
        ranking = nlu.get("ranking") or []
        guess = nlu.get("intent") or (ranking[0][0] if ranking else None)
        item = found[row["id"]] = Misunderstood(
            message_id=row["id"],
            conversation_id=row["conversation_id"],
            text=message_text(db, row),
            created_at=row["created_at"],
            intent=guess,
            confidence=float(nlu.get("confidence") or 0.0),
        )
    item.reasons.add(reason)


_CUSTOMER = (
    "SELECT m.id, m.conversation_id, m.text, m.meta, m.created_at FROM messages m"
    " JOIN conversations c ON c.id = m.conversation_id"
)


async def _turns(review: ReviewStore, workspace_id: str, since: datetime) -> list[dict[str, Any]]:
    """The newest customer messages, each with the meta of its first bot reply."""
    rows = await review.db.fetch(
        "SELECT m.id, m.conversation_id, m.text, m.meta, m.created_at,"
        " (SELECT r.meta FROM messages r WHERE r.reply_to = m.id ORDER BY r.seq LIMIT 1)"
        " AS reply_meta FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.workspace_id = ? AND m.author = 'customer' AND m.created_at >= ?"
        " ORDER BY m.created_at DESC LIMIT ?",
        workspace_id,
        since,
        MAX_SCANNED,
    )
    for row in rows:
        # A subquery's value carries no declared type: SQLite returns the JSON text.
        if isinstance(row["reply_meta"], str):
            row["reply_meta"] = json.loads(row["reply_meta"])
    return rows


async def _feedback(
    review: ReviewStore, workspace_id: str, since: datetime
) -> list[dict[str, Any]]:
    """Customer messages whose bot answer got a thumbs down or an agent's flag."""
    try:
        return await review.db.fetch(
            _CUSTOMER.replace("SELECT ", "SELECT f.source, ", 1)
            + " JOIN messages b ON b.reply_to = m.id"
            " JOIN answer_feedback f ON f.message_id = b.id"
            " WHERE c.workspace_id = ? AND f.rating < 0 AND f.created_at >= ?"
            " ORDER BY f.created_at DESC LIMIT ?",
            workspace_id,
            since,
            MAX_SCANNED,
        )
    except BackendError:
        return []  # no answer_feedback table (analytics' migration 0020) in this database


async def _escalated(
    review: ReviewStore, workspace_id: str, since: datetime
) -> list[dict[str, Any]]:
    """For each conversation handed to people in the window, the last customer message
    before the hand-over that the bot answered with something other than a hand-over."""
    return await review.db.fetch(
        _CUSTOMER + " JOIN events e ON e.conversation_id = m.conversation_id"
        " WHERE c.workspace_id = ? AND e.workspace_id = ? AND e.type = 'conversation.status'"
        " AND e.created_at >= ? AND e.data->>'status' = 'waiting_for_agent'"
        " AND m.author = 'customer' AND m.created_at < e.created_at"
        " AND m.seq = (SELECT MAX(p.seq) FROM messages p JOIN messages pr ON pr.reply_to = p.id"
        "   WHERE p.conversation_id = m.conversation_id AND p.author = 'customer'"
        "   AND p.created_at < e.created_at AND pr.author = 'bot'"
        "   AND pr.meta->>'step' <> 'handoff')"
        " LIMIT ?",
        workspace_id,
        workspace_id,
        since,
        MAX_SCANNED,
    )
