"""History, search and tags in the staff API (``/api/v1/inbox/...``); the history page
(``history_page.py``) shows the same search.

    GET    /api/v1/inbox/search                          conversations by text, customer,
                                                         status, channel, agent, intent, tag, date
    POST   /api/v1/inbox/conversations/{id}/tags         add tags
    DELETE /api/v1/inbox/conversations/{id}/tags/{tag}   remove one

A search only ever sees the caller's workspaces. It first brings the transcript index up to
date (``search_index.catch_up``), so what was said a moment ago is findable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import STAFF, errors
from smartsupport.domain import ConversationStatus
from smartsupport.inbox import memory, search_index, tags
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.search import Card, SearchQuery, search
from smartsupport.services import Services
from smartsupport.staff import StaffUser, current_staff, require_workspace, verify_csrf
from smartsupport.storage.base import SqlDatabase

router = APIRouter(
    prefix="/api/v1/inbox", tags=["agent inbox"], dependencies=[Depends(verify_csrf)]
)
Staff = Annotated[StaffUser, Depends(current_staff)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CardOut(Body):
    conversation_id: str
    workspace: str
    status: ConversationStatus
    channel: str
    customer_id: str
    customer_name: str | None
    customer_email: str | None = Field(description="The customer's, else the contact form's.")
    past_conversations: int = Field(description="The customer's other conversations.")
    agent_id: str | None = Field(description="Who holds or resolved it.")
    tags: list[str]
    created_at: str
    updated_at: str
    ticket: dict[str, Any] | None = Field(description="The helpdesk ticket: provider, id, url.")


class SearchOut(Body):
    cards: list[CardOut]
    next_before: str | None = Field(
        description="Pass as ``before`` for the next page; null on the last page."
    )


class TagsIn(Body):
    tags: list[str] = Field(min_length=1, max_length=tags.MAX_TAGS)


class TagsOut(Body):
    conversation_id: str
    tags: list[str]


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def database(services: Services) -> SqlDatabase:
    if not isinstance(services.store, SqlDatabase):
        raise TypeError("history and search need an SQL store")
    return services.store


def utc(value: datetime | None) -> datetime | None:
    """A time without a zone is UTC (a date picker sends none)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def card_json(card: Card) -> dict[str, Any]:
    return {
        "conversation_id": card.conversation_id,
        "workspace": card.workspace_id,
        "status": card.status,
        "channel": card.channel,
        "customer_id": card.customer_id,
        "customer_name": card.customer_name,
        "customer_email": card.customer_email,
        "past_conversations": card.past_conversations,
        "agent_id": card.agent_id,
        "tags": card.tags,
        "created_at": card.created_at.isoformat() if card.created_at else "",
        "updated_at": card.updated_at.isoformat() if card.updated_at else "",
        "ticket": card.ticket,
    }


async def run_search(
    services: Services, user: StaffUser, query: SearchQuery, workspace: str | None = None
) -> list[Card]:
    """The search as the caller may see it (their workspaces, or one of them)."""
    if workspace:
        require_workspace(user, workspace)
    db = database(services)
    blind = search_index.blind_for(services.store)
    await search_index.catch_up(services.store, blind=blind)
    previous = search_index.previous_blind_for(services.store)  # while the index key changes
    spaces = [workspace] if workspace else list(user.workspaces)
    return await search(db, spaces, query, blind=blind, previous=previous)


@router.get(
    "/search",
    response_model=SearchOut,
    operation_id="searchConversations",
    responses=errors(*STAFF, 422),
)
async def search_conversations(
    request: Request,
    user: Staff,
    q: Annotated[str, Query(max_length=500, description="Words in the transcript.")] = "",
    customer: Annotated[str, Query(max_length=320, description="Name, email or id.")] = "",
    status: ConversationStatus | None = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    agent: Annotated[str | None, Query(max_length=64, description="A staff id.")] = None,
    intent: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[datetime | None, Query(description="Started at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Started before.")] = None,
    before: Annotated[
        datetime | None, Query(description="The previous page's next_before.")
    ] = None,
    workspace: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    """Conversations of the caller's workspaces matching every filter, newest first."""
    query = SearchQuery(
        text=q,
        customer=customer,
        status=status.value if status else None,
        channel=channel,
        agent=agent,
        intent=intent,
        tag=tag,
        since=utc(since),
        until=utc(until),
        before=utc(before),
        limit=limit,
    )
    cards = await run_search(services_of(request), user, query, workspace)
    last = cards[-1].updated_at if len(cards) == limit and cards else None
    return {
        "cards": [card_json(c) for c in cards],
        "next_before": last.isoformat() if last else None,
    }


@router.post(
    "/conversations/{conversation_id}/tags",
    response_model=TagsOut,
    operation_id="addConversationTags",
    responses=errors(400, *STAFF, 404, 422),
)
async def add_tags(
    conversation_id: str, body: TagsIn, request: Request, user: Staff
) -> dict[str, Any]:
    """Add tags to a conversation (lower-cased; one already there stays once)."""
    services = services_of(request)
    conversation = await load_for(services, user, conversation_id)
    found = await tags.add_tags(
        database(services), conversation.workspace_id, conversation_id, body.tags, user.id
    )
    return {"conversation_id": conversation_id, "tags": found}


@router.delete(
    "/conversations/{conversation_id}/tags/{tag}",
    response_model=TagsOut,
    operation_id="removeConversationTag",
    responses=errors(*STAFF, 404),
)
async def remove_tag(
    conversation_id: str, tag: str, request: Request, user: Staff
) -> dict[str, Any]:
    """Remove one tag (a tag that is not there is fine)."""
    services = services_of(request)
    await load_for(services, user, conversation_id)
    return {
        "conversation_id": conversation_id,
        "tags": await tags.remove_tag(database(services), conversation_id, tag),
    }


async def side_panel(services: Services, user: StaffUser, conversation: Any) -> dict[str, Any]:
    """What the conversation page's side panel shows of the customer's history: the
    conversation's tags, the customer's other conversations (newest first, up to 10) and,
    for a verified customer, what their earlier conversations were about (memory.py)."""
    db = database(services)
    query = SearchQuery(customer_id=conversation.customer_id, limit=11)
    found = await search(db, [conversation.workspace_id], query)
    past = [c for c in found if c.conversation_id != conversation.id][:10]
    return {
        "tags": await tags.tags_of(db, conversation.id),
        "past": past,
        "memories": await memory.recall(services.store, conversation),  # verified customers
    }
