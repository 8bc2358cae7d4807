"""Attachments in the inbox: agents open the files customers sent and send their own.

    GET  /api/v1/inbox/attachments/{id}                       a file of a conversation in
                                                              one of the agent's workspaces
    POST /api/v1/inbox/conversations/{id}/attachments?filename=&caption=&client_id=
                                                              the raw file as the body: the
                                                              holder's reply listing it, sent
                                                              out on the conversation's channel

Downloads are sent the same safe way as the widget's (``web_attachments.file_response``);
staff see a message's files with these URLs (``inbox.context.message_view``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from smartsupport import attachment_records
from smartsupport.api_docs import STAFF, errors
from smartsupport.channels.web_attachments import file_response
from smartsupport.errors import NotFound
from smartsupport.inbox import wire as out
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.context import message_view
from smartsupport.inbox.takeover import send_agent_message
from smartsupport.services import Services
from smartsupport.staff import StaffUser, current_staff, require_workspace, verify_csrf

router = APIRouter(
    prefix="/api/v1/inbox", tags=["agent inbox"], dependencies=[Depends(verify_csrf)]
)
Staff = Annotated[StaffUser, Depends(current_staff)]
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@router.get(
    "/attachments/{attachment_id}",
    operation_id="downloadInboxAttachment",
    response_class=Response,
    responses={
        200: {"description": "The file, as a download.", "content": BINARY},
        **errors(*STAFF, 404),
    },
)
async def download(attachment_id: str, request: Request, user: Staff) -> Response:
    services = services_of(request)
    attachment = await attachment_records.find(services, attachment_id)
    if attachment is None:
        raise NotFound(f"no attachment {attachment_id!r}")
    require_workspace(user, attachment.workspace_id)
    return file_response(attachment, await attachment_records.read(services, attachment))


@router.post(
    "/conversations/{conversation_id}/attachments",
    status_code=201,
    response_model=out.AgentMessageOut,
    operation_id="sendAgentAttachment",
    responses=errors(400, *STAFF, 404, 409, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file's bytes (an image, a PDF or audio); the type is read "
            "from the bytes.",
            "content": BINARY,
        }
    },
)
async def send(
    conversation_id: str,
    request: Request,
    user: Staff,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    caption: Annotated[str, Query(max_length=4000)] = "",
    client_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> dict[str, Any]:
    """Send a file to the customer (only the agent holding the conversation may)."""
    services = services_of(request)
    conversation = await load_for(services, user, conversation_id)
    data = await request.body()
    attachment = await attachment_records.keep(
        services,
        workspace_id=conversation.workspace_id,
        conversation_id=conversation_id,
        data=data,
        filename=filename,
        source="agent",
    )
    message = await send_agent_message(
        services,
        user,
        conversation_id,
        caption.strip() or f"📎 {attachment.filename}",
        client_id,
        attachments=[attachment.descriptor()],
    )
    await attachment_records.link(services, [attachment.id], conversation_id, message.id)
    return {"message": message_view(message)}
