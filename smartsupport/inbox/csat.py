"""Customer satisfaction: after resolution the customer is asked for a rating (1-5) and an
optional comment, stored on the conversation's inbox row.

The request is a system message (so it is part of the transcript) plus a ``{"type":
"csat"}`` frame on the conversation's channel, which the widget answers by showing the
rating form; a widget that reconnects later asks ``GET .../csat`` whether a rating is due.
A conversation resolved again after a reopen asks again, and the newer rating replaces the
older.
"""

from __future__ import annotations

from typing import Any

from smartsupport import messages
from smartsupport.domain import Author, Conversation, utcnow
from smartsupport.errors import Conflict, InvalidInput
from smartsupport.events.schema import event_items
from smartsupport.fanout import conversation_lock, publish
from smartsupport.inbox.changes import load, post
from smartsupport.inbox.store import InboxStore
from smartsupport.outbox import enqueue
from smartsupport.services import Services

MAX_COMMENT = 1000
PROMPT = "inbox.csat_prompt"  # the message catalog's key: in the conversation's language


async def request_rating(services: Services, conversation: Conversation) -> None:
    """Ask the customer for a rating (the caller holds the conversation lock)."""
    await InboxStore(services.store).update(
        conversation.id, conversation.workspace_id, csat_requested_at=utcnow()
    )
    workspace = services.workspace(conversation.workspace_id)
    language = messages.conversation_language(workspace, conversation.metadata)
    text = messages.text(workspace, PROMPT, language)
    await post(services, conversation.id, Author.SYSTEM, text, meta={"csat": "request"})
    await publish(services, conversation.id, {"type": "csat"})


def rating_state(row: dict[str, Any] | None) -> dict[str, Any]:
    """What the widget needs: is a rating due, and the one given (if any)."""
    row = row or {}
    requested, rated = row.get("csat_requested_at"), row.get("csat_at")
    return {
        "requested": requested is not None,
        "due": requested is not None and (rated is None or rated < requested),
        "rating": row.get("csat_rating"),
        "comment": row.get("csat_comment"),
    }


async def submit_rating(
    services: Services, conversation_id: str, rating: int, comment: str | None
) -> dict[str, Any]:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("rating must be a whole number from 1 to 5", code="invalid_rating")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidInput(
            f"the comment is longer than {MAX_COMMENT} characters", code="comment_too_long"
        )
    inbox = InboxStore(services.store)
    async with conversation_lock(services, conversation_id):
        conversation = await load(services, conversation_id)
        state = rating_state(await inbox.row(conversation_id))
        if not state["requested"]:
            raise Conflict(
                "no rating was asked for in this conversation", code="csat_not_requested"
            )
        if not state["due"]:
            raise Conflict("this conversation was already rated", code="already_rated")
        # -- events for data teams: the rating and its feedback.given event together --------
        outbox = event_items(
            bool(services.settings.events_url),
            "feedback.given",
            conversation.workspace_id,
            conversation_id,
            {"kind": "csat", "rating": rating, "has_comment": comment is not None},
        )
        async with services.store.transaction() as tx:  # type: ignore[attr-defined]
            await InboxStore(tx).update(
                conversation_id,
                conversation.workspace_id,
                csat_rating=rating,
                csat_comment=comment,
                csat_at=utcnow(),
            )
            for item in outbox:
                await enqueue(tx, conversation.workspace_id, item)
        if outbox:
            services.outbox_due.set()
        # -- end of events ---------------------------------------------------------------------
        await services.store.add_event(
            conversation.workspace_id,
            "csat.rated",
            {"rating": rating, "comment": bool(comment)},
            conversation_id=conversation_id,
        )
    return {"requested": True, "due": False, "rating": rating, "comment": comment}
