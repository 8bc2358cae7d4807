"""The web channel's REST API: start a conversation, post and read messages, and leave
contact details when nobody can answer live (the offline / overflow contact form)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from smartsupport import messages
from smartsupport.api_docs import VISITOR, errors
from smartsupport.channels.web import WebChannel
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import Conversation, ConversationStatus
from smartsupport.errors import InvalidInput, NotFound, RateLimited
from smartsupport.helpdesk.contact import submit_contact
from smartsupport.identity import verify_once, workspace_secret
from smartsupport.limits import MAX_SEQ, METADATA_MAX_BYTES, METADATA_MAX_DEPTH, check_metadata
from smartsupport.services import Services
from smartsupport.storage.base import SqlDatabase
from smartsupport.visitor_tokens import (
    bearer,
    check_not_revoked,
    issue_token,
    revocation,
    verify_token,
)
from smartsupport.wire import MessageOut

router = APIRouter(prefix="/api/v1", tags=["web channel"])
WEB = WebChannel()


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    locale: str | None = Field(default=None, max_length=35)
    segment: str | None = Field(
        default=None,
        max_length=64,
        description="Ignored from visitors: a segment counts only when a signed identity "
        "carries it (identity.sign(..., segment=...)) or the business's API answers it.",
    )
    metadata: Annotated[dict[str, Any], AfterValidator(check_metadata)] = Field(
        default_factory=dict,
        description=f"At most {METADATA_MAX_BYTES} bytes as JSON, nested at most "
        f"{METADATA_MAX_DEPTH} levels.",
    )


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(
        min_length=1,
        max_length=600,
        description="smartsupport.identity.sign(secret, user_id): HMAC over the user id and "
        "a timestamp, made by the business's server for each page view.",
    )


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspace: str = Field(min_length=1, max_length=64)
    customer: CustomerIn | None = None
    locale: str | None = Field(default=None, max_length=35)
    identity: IdentityIn | None = Field(
        default=None, description="A signed identity of a logged-in user of the business's site."
    )


class ConversationOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    token: str = Field(description="The visitor token: 'Authorization: Bearer <token>'.")
    status: ConversationStatus
    messages: list[MessageOut] = Field(description="The stored greeting (seq 1).")
    texts: dict[str, str] = Field(
        description="The widget's labels for rating an answer (helpful, unhelpful, "
        "rate_answer) in the conversation's language, from the message catalog (a "
        "workspace's own texts first)."
    )


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, description="Plain text; never interpreted as HTML.")
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Client-generated id: a retry with the same id is stored once.",
    )


class TurnOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: MessageOut = Field(description="The customer's message as stored.")
    replies: list[MessageOut]
    status: ConversationStatus


class MessagesOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[MessageOut]
    status: ConversationStatus


class ConversationStateOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    workspace: str
    status: ConversationStatus
    last_seq: int


class ContactOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(description="The ticket reference the customer can quote.")
    ticket: bool = Field(
        description="True: a helpdesk ticket was queued; false: no helpdesk is configured "
        "and the conversation joined the agents' inbox queue."
    )
    messages: list[MessageOut] = Field(description="What the conversation now shows.")


def services_of(request: Request) -> Services:
    return request.app.state.services


async def authorized_conversation(
    services: Services, conversation_id: str, token: str | None
) -> Conversation:
    ttl = services.settings.visitor_token_ttl_seconds
    issued = verify_token(services.secret_key, token, conversation_id, ttl=ttl)
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"unknown conversation {conversation_id!r}")
    check_not_revoked(issued, conversation.metadata)
    return conversation


async def visitor_conversation(
    conversation_id: str,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> Conversation:
    """A dependency: the conversation the visitor token authorises. As a dependency it runs
    before the body is validated, so an unauthorised caller learns nothing about the body."""
    return await authorized_conversation(
        services_of(request), conversation_id, bearer(authorization)
    )


@router.post(
    "/conversations",
    status_code=201,
    response_model=ConversationOut,
    operation_id="createConversation",
    responses=errors(400, 401, 404, 422, 429, 503),
)
async def create_conversation(body: ConversationIn, request: Request) -> dict[str, Any]:
    """Start a conversation for a visitor; the returned token authorises only this one."""
    services = services_of(request)
    client = request.client.host if request.client else "unknown"
    wait = await services.backplane.hit(
        f"rate:start:{client}", services.settings.conversation_rate_limit_per_minute, 60
    )
    if wait:
        raise RateLimited("too many new conversations from this address", retry_after=wait)
    customer = body.customer.model_dump() if body.customer else {}
    # Trusted attributes come only from a signed identity: an anonymous "segment: vip" would
    # jump the queue (handoff rules prioritise segments).
    customer.pop("segment", None)
    identity = None
    if body.identity is not None:
        secret = workspace_secret(services.workspace(body.workspace))
        if secret is None:
            raise InvalidInput(f"workspace {body.workspace!r} does not accept signed identities")
        if not isinstance(services.store, SqlDatabase):
            raise TypeError("signed identities need an SQL store for their replay memory")
        signed = await verify_once(services.store, secret, body.identity.token)
        # Only a verified identity may name the customer: an unsigned external_id is a hint.
        customer["external_id"] = signed.user_id
        if signed.segment:
            customer["segment"] = signed.segment
        identity = signed.user_id
    elif customer.get("external_id"):
        customer["external_id"] = None  # unverified claims never join another's history
    conversation, messages = await start_conversation(
        services, body.workspace, customer=customer or None, locale=body.locale, identity=identity
    )
    return {
        "id": conversation.id,
        "token": issue_token(services.secret_key, conversation.id),
        "status": conversation.status.value,
        "messages": [WEB.render(m) for m in messages],
        "texts": feedback_texts(services.workspace(conversation.workspace_id), conversation),
    }


FEEDBACK_LABELS = ("helpful", "unhelpful", "rate_answer")


def feedback_texts(workspace: messages.HasTexts, conversation: Conversation) -> dict[str, str]:
    """The thumbs' labels in the language the conversation is in (the visitor's locale at
    the start): ``feedback.*`` of the message catalog."""
    language = messages.conversation_language(workspace, conversation.metadata)
    return {key: messages.text(workspace, f"feedback.{key}", language) for key in FEEDBACK_LABELS}


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=TurnOut,
    operation_id="postMessage",
    responses={
        201: {
            "description": "The customer's message and the replies.",
            "headers": {
                "Idempotent-Replay": {
                    "description": "'true' when this client_id was seen: nothing new stored.",
                    "schema": {"type": "string"},
                }
            },
        },
        **errors(400, *VISITOR, 422, 429),
    },
)
async def post_message(
    conversation_id: str,
    body: MessageIn,
    request: Request,
    response: Response,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Send the customer's message; the response holds it and the bot's replies."""
    services = services_of(request)
    token = bearer(authorization)
    await authorized_conversation(services, conversation_id, token)
    wait = await services.backplane.hit(
        f"rate:msg:{conversation_id}", services.settings.rate_limit_per_minute, 60
    )
    if wait:
        raise RateLimited("too many messages; slow down", retry_after=wait)
    [incoming] = WEB.parse(conversation_id, body.model_dump())
    result = await handle_message(services, incoming)
    if result.duplicate:
        response.headers["Idempotent-Replay"] = "true"
    return {
        "message": WEB.render(result.message),
        "replies": [WEB.render(m) for m in result.replies],
        "status": result.conversation.status.value,
    }


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=MessagesOut,
    operation_id="listMessages",
    responses=errors(*VISITOR, 422),
)
async def list_messages(
    conversation_id: str,
    request: Request,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Messages with a sequence number above ``after``, in order."""
    services = services_of(request)
    conversation = await authorized_conversation(services, conversation_id, bearer(authorization))
    messages = await services.store.list_messages(conversation_id, after=after, limit=limit)
    return {"messages": [WEB.render(m) for m in messages], "status": conversation.status.value}


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationStateOut,
    operation_id="getConversation",
    responses=errors(*VISITOR),
)
async def get_conversation(
    conversation_id: str,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """The conversation's state; ``last_seq`` tells whether messages were missed."""
    services = services_of(request)
    conversation = await authorized_conversation(services, conversation_id, bearer(authorization))
    return {
        "id": conversation.id,
        "workspace": conversation.workspace_id,
        "status": conversation.status.value,
        "last_seq": conversation.last_seq,
    }


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320)
    name: str | None = Field(default=None, max_length=200)
    question: str = Field(min_length=1, max_length=100_000)


class ContactFormOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(description="The email field's label, in the conversation's language.")
    question: str = Field(description="The question field's label.")
    send: str = Field(description="The send button's label.")


@router.get(
    "/conversations/{conversation_id}/contact",
    response_model=ContactFormOut,
    operation_id="getContactForm",
    responses=errors(*VISITOR),
)
async def contact_form(
    request: Request,
    conversation: Annotated[Conversation, Depends(visitor_conversation)],
) -> dict[str, str]:
    """The contact form's labels, in the language the conversation is in (the widget shows
    the form under a message whose ``form`` is ``contact``)."""
    workspace = services_of(request).workspace(conversation.workspace_id)
    language = messages.conversation_language(workspace, conversation.metadata)
    return {
        field: messages.text(workspace, f"contact.{field}", language)
        for field in ("email", "question", "send")
    }


@router.post(
    "/conversations/{conversation_id}/contact",
    status_code=201,
    response_model=ContactOut,
    operation_id="leaveContactDetails",
    responses=errors(400, *VISITOR, 422),
)
async def leave_contact_details(
    conversation_id: str,
    body: ContactIn,
    request: Request,
    response: Response,
    conversation: Annotated[Conversation, Depends(visitor_conversation)],
) -> dict[str, Any]:
    """The customer's email and question when nobody can answer live: a ticket in the
    workspace's helpdesk (through the outbox), or without one the agents' inbox queue; the
    reply says what happens next. The same form sent again stores nothing new
    (``Idempotent-Replay: true``)."""
    result = await submit_contact(
        services_of(request),
        conversation_id,
        email=body.email,
        question=body.question,
        name=body.name,
    )
    if result.replayed:
        response.headers["Idempotent-Replay"] = "true"
    return {
        "reference": result.reference,
        "ticket": result.ticket,
        "messages": [WEB.render(m) for m in result.messages],
    }


@router.delete(
    "/conversations/{conversation_id}/token",
    status_code=204,
    operation_id="revokeVisitorTokens",
    responses=errors(*VISITOR),
)
async def revoke_tokens(
    conversation_id: str,
    request: Request,
    conversation: Annotated[Conversation, Depends(visitor_conversation)],
) -> Response:
    """Sign out: every token of this conversation issued until now stops working (the
    widget's "end chat" on a shared computer, or a token that leaked)."""
    await services_of(request).store.update_conversation_metadata(conversation_id, revocation())
    return Response(status_code=204)
