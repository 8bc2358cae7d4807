"""The API channel's inbound routes: a business's app sends its user's message, and its
user's thumbs on an answer.

    POST /api/v1/channels/api/{workspace}/messages      Authorization: Bearer sk_...
         (scope messages:write, a key of this workspace)
         {"user_id", "message_id", "text", "name"?, "email"?, "locale"?}
      -> 201 {"conversation_id", "duplicate", "message", "replies"}
    POST /api/v1/channels/api/{workspace}/messages/{message_id}/feedback   (the same key)
         {"user_id", "rating": 1 | -1, "reason"?}
      -> 201 {"conversation_id", "message_id", "rating", "reason", "channel": "api",
              "created_at", "changed"}

One conversation per user id. ``message_id`` is the app's own id: the same message sent
twice (a retry after a timeout) is stored and answered once, and the second call returns
the first result with ``duplicate: true``. Every reply is also delivered to the workspace's
``api_channel.webhook_url`` as a signed webhook (api_channel.py), and so are later replies
from agents and proactive messages.

A message the app may let its user rate says ``"rateable": true`` (an answer from the help
articles, as on every channel). The rating is recorded through the widget's code path
(``feedback.rate_answer``, channel ``api``) for the answer in that user's own conversation
only: another user's answer is 404, as if it did not exist; a message that is not rateable
422 ``not_a_bot_answer`` (the user's own, an agent's) or ``not_rateable`` (a greeting, a flow
step). The same rating again writes nothing (``changed: false``); the other replaces it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from smartsupport.api_docs import errors
from smartsupport.channels import contacts, thumbs, thumbs_inbound
from smartsupport.channels.api_channel import ApiChannel
from smartsupport.channels.messaging_config import api_channel_config
from smartsupport.channels.messaging_inbound import receive
from smartsupport.domain import Author, Message
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.feedback import MAX_REASON, ratings_of
from smartsupport.services import Services
from smartsupport.staff import ApiKeyPrincipal, require_api_key, require_workspace
from smartsupport.storage.base import SqlExecutor
from smartsupport.wire import MessageOut

CHANNEL = ApiChannel()
router = APIRouter(prefix="/api/v1/channels", tags=["messaging channels"])


class ApiMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=200, description="The app's id of its user.")
    message_id: str = Field(
        min_length=1, max_length=200, description="The app's id of this message (idempotency)."
    )
    text: str = Field(min_length=1, max_length=100_000)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    locale: str | None = Field(default=None, max_length=35)


class ApiMessage(MessageOut):
    """A message as the app receives it, in answers and in webhooks."""

    rateable: bool = Field(
        description="An answer from the help articles: the app may show thumbs under it and "
        "pass its user's rating on (rateApiChannelAnswer)."
    )


class ApiMessageOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: str
    duplicate: bool = Field(description="This message_id was received before.")
    message: ApiMessage
    replies: list[ApiMessage] = Field(description="Also delivered to the webhook URL.")


class ApiRatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(
        min_length=1, max_length=200, description="The app's id of the user who rates."
    )
    rating: StrictInt = Field(description="1 (thumbs up) or -1 (thumbs down)")
    reason: str | None = Field(
        default=None,
        max_length=MAX_REASON,
        description="Free text or a code such as wrong, not_helpful, off_topic.",
    )


class ApiRatingOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: str
    message_id: str
    rating: int
    reason: str | None
    channel: str = Field(description="Always 'api'.")
    created_at: str = Field(description="When this rating was given (ISO 8601, UTC offset).")
    changed: bool = Field(
        description="False when the user had already given this rating: nothing was written."
    )


def _api_channel(services: Services, workspace_id: str) -> None:
    if workspace_id not in services.workspaces:
        raise NotFound("unknown workspace")
    if api_channel_config(services.workspace(workspace_id)) is None:
        raise NotFound("this workspace has no api_channel section (docs/channels.md)")


@router.post(
    "/api/{workspace_id}/messages",
    status_code=201,
    response_model=ApiMessageOut,
    operation_id="sendApiChannelMessage",
    responses=errors(400, 401, 403, 404, 422, 503),
)
async def api_channel_message(
    workspace_id: str,
    body: ApiMessageIn,
    request: Request,
    key: Annotated[ApiKeyPrincipal, Depends(require_api_key("messages:write"))],
) -> dict[str, Any]:
    """A message from a user of the business's own app, answered like any other."""
    require_workspace(key, workspace_id)
    services: Services = request.app.state.services
    _api_channel(services, workspace_id)
    customer = {"name": body.name, "email": body.email, "locale": body.locale}
    received = await receive(
        services,
        workspace_id,
        CHANNEL,
        body.user_id,
        {"text": body.text, "message_id": body.message_id},
        customer={k: v for k, v in customer.items() if v},
        keywords=False,  # the app shows its own controls; "stop" is an ordinary message
    )
    result = received.result
    assert result is not None, "an API message always has text"
    return {
        "conversation_id": received.conversation_id,
        "duplicate": result.duplicate,
        "message": CHANNEL.render(result.message),
        "replies": [CHANNEL.render(m) for m in result.replies],
    }


@router.post(
    "/api/{workspace_id}/messages/{message_id}/feedback",
    status_code=201,
    response_model=ApiRatingOut,
    operation_id="rateApiChannelAnswer",
    responses=errors(400, 401, 403, 404, 422, 503),
)
async def api_channel_feedback(
    workspace_id: str,
    message_id: Annotated[
        str,
        Path(
            max_length=64,
            description="The answer's id: message.id of the webhook or of replies[] (not the "
            "app's own message_id).",
        ),
    ],
    body: ApiRatingIn,
    request: Request,
    key: Annotated[ApiKeyPrincipal, Depends(require_api_key("messages:write"))],
) -> dict[str, Any]:
    """A user of the business's app rates one of the assistant's answers to them: thumbs up
    or down, recorded like the widget's; rating again replaces it."""
    require_workspace(key, workspace_id)
    services: Services = request.app.state.services
    _api_channel(services, workspace_id)
    db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
    contact = await contacts.find(db, workspace_id, CHANNEL.name, body.user_id)
    conversation = (
        await services.store.get_conversation(contact.conversation_id) if contact else None
    )
    if conversation is None:
        raise NotFound("no conversation with this user_id")
    # Looked up in this user's conversation only: another user's answer is "not found".
    answer = await _message(services, conversation.id, message_id)
    if answer is None:
        raise NotFound(f"no message {message_id!r} in this user's conversation")
    if answer.author is Author.BOT and not thumbs.rateable(answer):
        raise InvalidInput(
            "only answers from the help articles can be rated (this message says "
            '"rateable": false)',
            code="not_rateable",
        )
    changed = await thumbs_inbound.record(
        services, conversation, message_id, body.rating, CHANNEL.name, body.reason
    )
    (row,) = [
        r
        for r in await ratings_of(services, conversation.id)
        if r.message_id == message_id and r.source == "customer"
    ]
    return {
        "conversation_id": conversation.id,
        "message_id": message_id,
        "rating": row.rating,
        "reason": row.reason,
        "channel": row.channel or CHANNEL.name,
        "created_at": row.created_at.isoformat(),
        "changed": changed,
    }


async def _message(services: Services, conversation_id: str, message_id: str) -> Message | None:
    """One message of the conversation, read through the store (its text and meta may be
    sealed at rest)."""
    db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
    row = await db.fetchrow(
        "SELECT seq FROM messages WHERE id = ? AND conversation_id = ?",
        message_id,
        conversation_id,
    )
    if row is None:
        return None
    found = await services.store.list_messages(conversation_id, after=row["seq"] - 1, limit=1)
    return found[0] if found and found[0].id == message_id else None
