"""The copilot in the staff API: ``GET /api/v1/inbox/conversations/{id}/copilot``.

The inbox script asks for it when a conversation opens and again after a new customer
message; the summary and drafts show above the composer (inbox.js). Read-only: a draft
reaches the customer only when the agent inserts it, edits it and sends it as their own
reply. Any staff member who may see the conversation may ask (workspace checked).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import STAFF, errors
from smartsupport.assistant import Assistant
from smartsupport.errors import NotFound
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.context import MAX_TRANSCRIPT, handoff_reason
from smartsupport.inbox.copilot import CopilotCache, copilot_for
from smartsupport.inbox.wire import PassageOut
from smartsupport.services import Services
from smartsupport.staff import StaffUser, current_staff, verify_csrf

router = APIRouter(
    prefix="/api/v1/inbox", tags=["agent inbox"], dependencies=[Depends(verify_csrf)]
)
Staff = Annotated[StaffUser, Depends(current_staff)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SummaryOut(Body):
    wants: str | None = Field(description="the customer's newest question, in their words")
    intent: str | None
    references: list[str] = Field(description="order numbers and references they gave")
    happened: list[str] = Field(description="the handoff reason and what the assistant did")
    mood: str | None = Field(description="negative, neutral or positive; null: unknown")


class DraftOut(Body):
    kind: str = Field(description="article: from a help article; flow: what a flow found")
    text: str
    source: str = Field(description="the article's title or the flow's name")
    url: str | None
    step: str = Field(description="what wrote it: extractive, llm:NAME or flow")


class CopilotOut(Body):
    summary: SummaryOut
    drafts: list[DraftOut]
    articles: list[PassageOut]


@router.get(
    "/conversations/{conversation_id}/copilot",
    response_model=CopilotOut,
    operation_id="getConversationCopilot",
    responses=errors(*STAFF, 404),
)
async def get_copilot(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    """The takeover summary, drafted replies and the help articles that answer."""
    services: Services = request.app.state.services
    conversation = await load_for(services, user, conversation_id)
    assistant = services.assistant
    if not isinstance(assistant, Assistant):
        raise NotFound("this deployment's assistant has no knowledge base", code="no_copilot")
    messages = await services.store.list_messages(conversation_id, limit=MAX_TRANSCRIPT)
    cache = _cache(request)
    key = (conversation_id, messages[-1].seq if messages else 0)
    copilot = cache.get(key)
    if copilot is None:
        copilot = await copilot_for(
            assistant,
            services.workspace(conversation.workspace_id),
            conversation,
            messages,
            await handoff_reason(services, conversation),
            knowledge=getattr(request.app.state, "kb", None),
        )
        cache.put(key, copilot)
    return copilot.as_json()


def _cache(request: Request) -> CopilotCache:
    cache = getattr(request.app.state, "copilot_cache", None)
    if cache is None:
        cache = request.app.state.copilot_cache = CopilotCache()
    return cache  # type: ignore[no-any-return]
