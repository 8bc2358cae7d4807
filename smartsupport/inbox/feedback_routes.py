"""Rating the assistant's answers (``feedback.py``), from both sides:

    POST /api/v1/conversations/{id}/messages/{message_id}/feedback   the visitor's thumbs
         {"rating": 1 | -1, "reason"?: "..."} -> 201   (visitor token, like the widget)
    POST /api/v1/inbox/conversations/{id}/messages/{message_id}/flag  an agent flags a bad
         answer {"reason"?: "..."} -> 201              (staff session + CSRF header)

A thumbs up in a conversation no person took part in is the customer saying the assistant
resolved it: with ``SMARTSUPPORT_CSAT_AFTER_BOT`` (on by default) the 1-5 rating is asked
for then, as after an agent's resolve (once per conversation until it is rated).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from smartsupport import messages
from smartsupport.api_docs import STAFF, VISITOR, errors
from smartsupport.channels.web_api import visitor_conversation
from smartsupport.domain import Author, Conversation, utcnow
from smartsupport.fanout import conversation_lock, publish
from smartsupport.feedback import MAX_REASON, AnswerRating, person_involved, rate_answer
from smartsupport.inbox.changes import load_for, post
from smartsupport.inbox.csat import rating_state
from smartsupport.inbox.store import InboxStore
from smartsupport.reply_language import MESSAGE_KEY
from smartsupport.services import Services
from smartsupport.staff import StaffUser, current_staff, verify_csrf

visitor_router = APIRouter(prefix="/api/v1/conversations", tags=["web channel"])
staff_router = APIRouter(
    prefix="/api/v1/inbox", tags=["agent inbox"], dependencies=[Depends(verify_csrf)]
)
BOT_CSAT_PROMPT = "feedback.csat_after_bot"  # the message catalog's key (nine languages)


class AnswerRatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: StrictInt = Field(description="1 (thumbs up) or -1 (thumbs down)")
    reason: str | None = Field(
        default=None,
        max_length=MAX_REASON,
        description="Free text or a code such as wrong, not_helpful, off_topic.",
    )


class AnswerFlagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=MAX_REASON)


class AnswerRatingOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: str
    rating: int
    reason: str | None
    source: str
    csat_due: bool = Field(description="The widget should show the 1-5 rating form now.")


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _out(row: AnswerRating, csat_due: bool = False) -> dict[str, Any]:
    return {
        "message_id": row.message_id,
        "rating": row.rating,
        "reason": row.reason,
        "source": row.source,
        "csat_due": csat_due,
    }


async def prompt_language(services: Services, conversation: Conversation, answer_id: str) -> str:
    """The language the rated answer was written in (its question's reply language,
    ``reply_language.MESSAGE_KEY``), else the conversation's."""
    row = await services.store.fetchrow(  # type: ignore[attr-defined]
        "SELECT q.meta FROM messages a JOIN messages q ON q.id = a.reply_to "
        "WHERE a.id = ? AND a.conversation_id = ?",
        answer_id,
        conversation.id,
    )
    meta = (row or {}).get("meta") or {}
    if isinstance(meta, str):
        meta = json.loads(meta)
    said = meta.get(MESSAGE_KEY) if isinstance(meta, dict) else None
    if isinstance(said, str) and said:
        return said
    workspace = services.workspace(conversation.workspace_id)
    return messages.conversation_language(workspace, conversation.metadata)


async def ask_rating_after_bot(
    services: Services, conversation: Conversation, answer_id: str
) -> bool:
    """Ask for the 1-5 rating after a bot-only resolution, in the language of the answer
    the customer liked; whether one is due now."""
    if not services.settings.csat_after_bot:
        return False
    inbox = InboxStore(services.store)
    async with conversation_lock(services, conversation.id):
        state = rating_state(await inbox.row(conversation.id))
        if state["requested"]:
            return bool(state["due"])
        if await person_involved(services, conversation.id):
            return False  # an agent's resolve asks for it
        await inbox.update(conversation.id, conversation.workspace_id, csat_requested_at=utcnow())
        workspace = services.workspace(conversation.workspace_id)
        language = await prompt_language(services, conversation, answer_id)
        prompt = messages.text(workspace, BOT_CSAT_PROMPT, language)
        await post(services, conversation.id, Author.SYSTEM, prompt, meta={"csat": "bot"})
        await publish(services, conversation.id, {"type": "csat"})
    return True


@visitor_router.post(
    "/{conversation_id}/messages/{message_id}/feedback",
    status_code=201,
    response_model=AnswerRatingOut,
    operation_id="rateAnswer",
    responses=errors(400, *VISITOR, 422),
)
async def rate(
    message_id: str,
    body: AnswerRatingIn,
    request: Request,
    conversation: Annotated[Conversation, Depends(visitor_conversation)],
) -> dict[str, Any]:
    """Thumbs up or down on one of the assistant's answers; rating again replaces it."""
    services = services_of(request)
    row = await rate_answer(services, conversation, message_id, body.rating, body.reason)
    due = row.rating > 0 and await ask_rating_after_bot(services, conversation, message_id)
    return _out(row, due)


@staff_router.post(
    "/conversations/{conversation_id}/messages/{message_id}/flag",
    status_code=201,
    response_model=AnswerRatingOut,
    operation_id="flagAnswer",
    responses=errors(400, *STAFF, 404, 422),
)
async def flag(
    conversation_id: str,
    message_id: str,
    body: AnswerFlagIn,
    request: Request,
    user: Annotated[StaffUser, Depends(current_staff)],
) -> dict[str, Any]:
    """Flag one of the assistant's answers as bad (for the review queue and analytics)."""
    services = services_of(request)
    conversation = await load_for(services, user, conversation_id)
    row = await rate_answer(
        services, conversation, message_id, -1, body.reason, source="agent", staff_id=user.id
    )
    return _out(row)
