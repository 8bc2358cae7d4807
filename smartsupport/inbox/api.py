"""The inbox's JSON API (``/api/v1/inbox/...``), used by the inbox pages' script and by tests.

Every route needs a logged-in staff member (cookie session); every unsafe method needs the
CSRF header (``verify_csrf`` on the router; it lets GET through). Every conversation a route
touches is checked against the caller's workspaces (403 ``workspace_forbidden``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import STAFF, errors
from smartsupport.domain import utcnow
from smartsupport.inbox import assignment, canned, notes, takeover, unread
from smartsupport.inbox import wire as out
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.context import ConversationContext, conversation_context, message_view
from smartsupport.inbox.queue import QueueEntry, waiting
from smartsupport.inbox.routing import clock, routing_of
from smartsupport.inbox.store import InboxStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser, current_staff, verify_csrf

router = APIRouter(
    prefix="/api/v1/inbox", tags=["agent inbox"], dependencies=[Depends(verify_csrf)]
)
Staff = Annotated[StaffUser, Depends(current_staff)]


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


class AgentMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    client_id: str | None = Field(default=None, min_length=1, max_length=64)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: str | None = Field(default=None, max_length=64)
    team: str | None = Field(default=None, min_length=1, max_length=64)


class PriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    priority: str


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=0, description="The last message read (its ``seq``).")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)  # notes.py gives the precise limit


def visible(user: StaffUser, entry: QueueEntry, teams: list[str]) -> bool:
    """Agents see the general queue and their teams' conversations; supervisors see all."""
    return entry.team is None or entry.team in teams or user.has_role("supervisor")


async def queue_for(services: Services, user: StaffUser) -> dict[str, Any]:
    inbox = InboxStore(services.store)
    me = await inbox.agent(user.id)
    queued = await waiting(services, user.workspaces, reader=user.id)  # with unread counts
    entries = [e for e in queued if visible(user, e, me.teams)]
    mine = []
    fields = services.store.fields  # type: ignore[attr-defined]
    for row in await inbox.held_rows(user.id):
        said = row["message_id"]
        mine.append(
            {
                "conversation_id": row["id"],
                "workspace": row["workspace_id"],
                "customer_name": fields.open(
                    "customers", "name", row["customer_id"], row["customer_name"]
                ),
                "last_message": fields.open("messages", "text", said, row["message_text"])
                if said
                else None,
                "last_author": row["message_author"] if said else None,
                "channel": row["channel"],
                "sla": _next_response(
                    services, row["workspace_id"], row["message_author"], row["message_at"]
                ),
                "unread": int(row["unread"]),
                "last_seq": int(row["last_seq"]),
            }
        )
    load_now = (await inbox.held_counts([user.id]))[user.id]
    clocks = [e.sla.state for e in entries if e.sla]
    clocks += [str(m["sla"]["state"]) for m in mine if isinstance(m["sla"], dict)]
    return {
        "queue": [e.as_json() for e in entries],
        "mine": mine,
        "me": {"status": me.status, "capacity": me.capacity, "load": load_now, "teams": me.teams},
        "sla_breaches": clocks.count("breached"),
        "sla_warnings": clocks.count("warning"),
    }


def _next_response(
    services: Services, workspace_id: str, author: str | None, said_at: datetime | None
) -> dict[str, Any] | None:
    """The next-response clock while the customer's message is the last one (routing.py)."""
    if author != "customer" or said_at is None:
        return None
    sla = routing_of(services, workspace_id).sla
    return clock(sla, "next_response", said_at, utcnow()).as_json()


def context_json(ctx: ConversationContext) -> dict[str, Any]:
    c, customer = ctx.conversation, ctx.customer
    return {
        "id": c.id,
        "workspace": c.workspace_id,
        "channel": c.channel,
        "status": c.status.value,
        "priority": ctx.priority,
        "reason": ctx.reason,
        "holder": {"id": ctx.holder_id, "name": ctx.holder_name} if ctx.holder_id else None,
        "team": ctx.team,
        "metadata": c.metadata,
        "customer": None
        if customer is None
        else {
            "id": customer.id,
            "name": customer.name,
            "email": customer.email,
            "locale": customer.locale,
            "segment": customer.segment,
            "channel": customer.channel,
            "metadata": customer.metadata,
        },
        "nlu": {
            "intent": ctx.intent,
            "confidence": ctx.confidence,
            "sentiment": ctx.sentiment,
            "sentiment_label": ctx.sentiment_label,
            "language": ctx.language,
            "entities": ctx.entities,
        },
        "messages": [message_view(m) for m in ctx.messages],
        "notes": [
            {
                "id": n.id,
                "author": n.author_name,
                "text": n.text,
                "created_at": n.created_at.isoformat(),
            }
            for n in ctx.notes
        ],
        "csat": ctx.csat,
        "suggestions": {
            "available": ctx.suggestions.available,
            "query": ctx.suggestions.query,
            "passages": ctx.suggestions.passages,
        },
    }


def state_json(conversation: Any) -> dict[str, Any]:
    return {"id": conversation.id, "status": conversation.status.value}


@router.get(
    "/queue",
    response_model=out.QueueOut,
    operation_id="getInboxQueue",
    responses=errors(401, 503),
)
async def get_queue(request: Request, user: Staff) -> dict[str, Any]:
    """The waiting conversations in serving order, the caller's own, and their load."""
    return await queue_for(services_of(request), user)


@router.get(
    "/conversations/{conversation_id}",
    response_model=out.InboxConversationOut,
    operation_id="getInboxConversation",
    responses=errors(*STAFF, 404),
)
async def get_conversation(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    ctx = await conversation_context(services_of(request), user, conversation_id, request.app.state)
    return context_json(ctx)


@router.post(
    "/conversations/{conversation_id}/claim",
    response_model=out.ConversationChangeOut,
    operation_id="claimConversation",
    responses=errors(*STAFF, 404, 409),
)
async def claim(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    return state_json(await assignment.claim(services_of(request), user, conversation_id))


@router.post(
    "/conversations/{conversation_id}/decline",
    response_model=out.DeclineOut,
    operation_id="declineOffer",
    responses=errors(*STAFF, 404, 409),
)
async def decline(conversation_id: str, request: Request, user: Staff) -> dict[str, str]:
    await assignment.decline(services_of(request), user, conversation_id)
    return {"status": "declined"}


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=out.AgentMessageOut,
    operation_id="sendAgentMessage",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def send(
    conversation_id: str, body: AgentMessageIn, request: Request, user: Staff
) -> dict[str, Any]:
    message = await takeover.send_agent_message(
        services_of(request), user, conversation_id, body.text, body.client_id
    )
    return {"message": message_view(message)}


@router.post(
    "/conversations/{conversation_id}/transfer",
    response_model=out.ConversationChangeOut,
    operation_id="transferConversation",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def transfer(
    conversation_id: str, body: TransferIn, request: Request, user: Staff
) -> dict[str, Any]:
    conversation = await assignment.transfer(
        services_of(request), user, conversation_id, agent_id=body.agent_id, team=body.team
    )
    return state_json(conversation)


@router.post(
    "/conversations/{conversation_id}/handback",
    response_model=out.ConversationChangeOut,
    operation_id="handBackConversation",
    responses=errors(*STAFF, 404, 409),
)
async def hand_back(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    return state_json(await takeover.hand_back(services_of(request), user, conversation_id))


@router.post(
    "/conversations/{conversation_id}/resolve",
    response_model=out.ConversationChangeOut,
    operation_id="resolveConversation",
    responses=errors(*STAFF, 404, 409),
)
async def resolve(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    return state_json(await takeover.resolve(services_of(request), user, conversation_id))


@router.post(
    "/conversations/{conversation_id}/reopen",
    response_model=out.ConversationChangeOut,
    operation_id="reopenConversation",
    responses=errors(*STAFF, 404, 409),
)
async def reopen(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    return state_json(await takeover.reopen(services_of(request), user, conversation_id))


@router.post(
    "/conversations/{conversation_id}/read",
    response_model=out.ReadMarkOut,
    operation_id="markConversationRead",
    responses=errors(400, *STAFF, 404, 422),
)
async def mark_read(
    conversation_id: str, body: ReadIn, request: Request, user: Staff
) -> dict[str, Any]:
    """The caller has read the conversation up to ``seq``: its unread count in the caller's
    lists (``unread``) counts the customer's later messages, on every device; the caller's
    open inboxes get a ``read`` frame (inbox/unread.py)."""
    kept = await unread.mark_read(services_of(request), user, conversation_id, body.seq)
    return {"conversation_id": conversation_id, "seq": kept}


@router.post(
    "/conversations/{conversation_id}/priority",
    response_model=out.PriorityOut,
    operation_id="setConversationPriority",
    responses=errors(400, *STAFF, 404, 409, 422),
)
async def priority(
    conversation_id: str, body: PriorityIn, request: Request, user: Staff
) -> dict[str, Any]:
    conversation = await takeover.set_priority(
        services_of(request), user, conversation_id, body.priority
    )
    return {**state_json(conversation), "priority": conversation.metadata.get("priority")}


@router.get(
    "/conversations/{conversation_id}/notes",
    response_model=out.NotesOut,
    operation_id="listNotes",
    responses=errors(*STAFF, 404),
)
async def get_notes(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    found = await notes.list_notes(services_of(request), user, conversation_id)
    return {
        "notes": [
            {
                "id": n.id,
                "author": n.author_name,
                "text": n.text,
                "created_at": n.created_at.isoformat(),
            }
            for n in found
        ]
    }


@router.post(
    "/conversations/{conversation_id}/notes",
    status_code=201,
    response_model=out.NoteOut,
    operation_id="addNote",
    responses=errors(400, *STAFF, 404, 422),
)
async def add_note(
    conversation_id: str, body: NoteIn, request: Request, user: Staff
) -> dict[str, Any]:
    note = await notes.add_note(services_of(request), user, conversation_id, body.text)
    return {
        "id": note.id,
        "author": note.author_name,
        "text": note.text,
        "created_at": note.created_at.isoformat(),
    }


@router.get(
    "/conversations/{conversation_id}/canned",
    response_model=out.ExpandedCannedListOut,
    operation_id="listCannedForConversation",
    responses=errors(*STAFF, 404),
)
async def canned_for(conversation_id: str, request: Request, user: Staff) -> dict[str, Any]:
    """The workspace's canned responses with this conversation's placeholders filled in."""
    services = services_of(request)
    conversation = await load_for(services, user, conversation_id)
    customer = await services.store.get_customer(conversation.customer_id)
    messages = await services.store.list_messages(conversation_id)
    workspace = services.workspaces.get(conversation.workspace_id)
    out = []
    for item in await InboxStore(services.store).canned([conversation.workspace_id]):
        expanded = canned.expand(
            item.body,
            conversation=conversation,
            customer=customer,
            messages=messages,
            agent_name=user.name,
            workspace_name=workspace.name if workspace else conversation.workspace_id,
        )
        out.append(
            {
                "id": item.id,
                "shortcut": item.shortcut,
                "title": item.title,
                "text": expanded.text,
                "missing": expanded.missing,
            }
        )
    return {"canned": out}
