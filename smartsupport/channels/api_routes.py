"""The API channel's inbound route: a business's app sends its user's message.

    POST /api/v1/channels/api/{workspace}/messages      Authorization: Bearer sk_...
         (scope messages:write, a key of this workspace)
         {"user_id", "message_id", "text", "name"?, "email"?, "locale"?}
      -> 201 {"conversation_id", "duplicate", "message", "replies"}

One conversation per user id. ``message_id`` is the app's own id: the same message sent
twice (a retry after a timeout) is stored and answered once, and the second call returns
the first result with ``duplicate: true``. Every reply is also delivered to the workspace's
``api_channel.webhook_url`` as a signed webhook (api_channel.py), and so are later replies
from agents and proactive messages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.api_docs import errors
from smartsupport.channels.api_channel import ApiChannel
from smartsupport.channels.messaging_config import api_channel_config
from smartsupport.channels.messaging_inbound import receive
from smartsupport.errors import NotFound
from smartsupport.services import Services
from smartsupport.staff import ApiKeyPrincipal, require_api_key, require_workspace
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


class ApiMessageOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: str
    duplicate: bool = Field(description="This message_id was received before.")
    message: MessageOut
    replies: list[MessageOut] = Field(description="Also delivered to the webhook URL.")


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
    if workspace_id not in services.workspaces:
        raise NotFound("unknown workspace")
    if api_channel_config(services.workspace(workspace_id)) is None:
        raise NotFound("this workspace has no api_channel section (docs/channels.md)")
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
