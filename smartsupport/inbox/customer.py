"""The customer's side of the inbox, authorised by the visitor token like the rest of the
web channel (docs/protocol.md):

    GET  /api/v1/conversations/{id}/queue   place in the queue and estimated wait
    GET  /api/v1/conversations/{id}/csat    is a rating due? the rating given
    POST /api/v1/conversations/{id}/csat    {"rating": 1-5, "comment"?: "..."} -> 201
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from smartsupport.api_docs import VISITOR, errors
from smartsupport.channels.web_api import services_of, visitor_conversation
from smartsupport.domain import Conversation, ConversationStatus
from smartsupport.inbox.csat import MAX_COMMENT, rating_state, submit_rating
from smartsupport.inbox.queue import wait_estimates
from smartsupport.inbox.store import InboxStore
from smartsupport.inbox.wire import CsatOut, QueuePositionOut

router = APIRouter(prefix="/api/v1/conversations", tags=["web channel"])


class CsatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: StrictInt = Field(ge=1, le=5, description="1 (very poor) to 5 (excellent)")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


@router.get(
    "/{conversation_id}/queue",
    response_model=QueuePositionOut,
    operation_id="getQueuePosition",
    responses=errors(*VISITOR),
)
async def queue_position(
    request: Request, conversation: Annotated[Conversation, Depends(visitor_conversation)]
) -> dict[str, Any]:
    """While the conversation waits for a person: its place and the estimated wait in
    minutes (null when no agent is online)."""
    services = services_of(request)
    conversation_id = conversation.id
    body: dict[str, Any] = {
        "status": conversation.status.value,
        "position": None,
        "estimated_wait_minutes": None,
        "agents_online": None,
    }
    if conversation.status is ConversationStatus.WAITING:
        estimate = (await wait_estimates(services, conversation.workspace_id)).get(conversation_id)
        if estimate is not None:
            body.update(estimate.as_json())
    return body


@router.get(
    "/{conversation_id}/csat",
    response_model=CsatOut,
    operation_id="getCsat",
    responses=errors(*VISITOR),
)
async def csat_state(
    request: Request, conversation: Annotated[Conversation, Depends(visitor_conversation)]
) -> dict[str, Any]:
    """Whether a rating is due, and the rating given."""
    services = services_of(request)
    return rating_state(await InboxStore(services.store).row(conversation.id))


@router.post(
    "/{conversation_id}/csat",
    status_code=201,
    response_model=CsatOut,
    operation_id="rateConversation",
    responses=errors(400, *VISITOR, 409, 422),
)
async def rate(
    body: CsatIn,
    request: Request,
    conversation: Annotated[Conversation, Depends(visitor_conversation)],
) -> dict[str, Any]:
    """Rate the conversation after it was resolved (once per resolution)."""
    return await submit_rating(services_of(request), conversation.id, body.rating, body.comment)
