"""The widget's files: upload an image, a PDF or a voice note, and download what a message
lists. Both authenticate with the visitor token, like the other web-channel routes.

    POST /api/v1/conversations/{id}/attachments?filename=&client_id=&caption=
         the raw file as the body (any Content-Type: the type is sniffed from the bytes);
         answers like POST .../messages: the customer's message and the replies
    GET  /api/v1/conversations/{id}/attachments/{attachment_id}
         the file, always as a download (``file_response``)

``file_response`` is what every download route sends (the inbox's too): the sniffed type from
our own table (never the sender's claim, never text/html or SVG), ``Content-Disposition:
attachment``, ``X-Content-Type-Options: nosniff`` and a sandboxing CSP, so a file that is
really a web page can never run as one on our origin.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response

from smartsupport import attachment_records
from smartsupport.api_docs import VISITOR, errors
from smartsupport.attachment_records import Attachment, download_name
from smartsupport.channels.media_inbound import receive_media
from smartsupport.channels.web_api import WEB, TurnOut, authorized_conversation, services_of
from smartsupport.errors import NotFound, RateLimited
from smartsupport.services import Services
from smartsupport.visitor_tokens import bearer

router = APIRouter(prefix="/api/v1", tags=["web channel"])

# Every path whose body is a file, for the request-size middleware (limits.UPLOAD_PATHS).
UPLOAD_PATH = r"/api/v1/(inbox/)?conversations/[^/]+/attachments$"


def file_response(attachment: Attachment, data: bytes) -> Response:
    """A stored file as a download that no browser renders as a page."""
    name = download_name(attachment.filename)
    return Response(
        content=data,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(attachment.filename)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
            "Cross-Origin-Resource-Policy": "cross-origin",  # the widget runs on other sites
        },
    )


async def attachment_of(services: Services, conversation_id: str, attachment_id: str) -> Attachment:
    found = await attachment_records.find(services, attachment_id)
    if found is None or found.conversation_id != conversation_id:
        raise NotFound(f"no attachment {attachment_id!r} in this conversation")
    return found


@router.post(
    "/conversations/{conversation_id}/attachments",
    status_code=201,
    response_model=TurnOut,
    operation_id="uploadAttachment",
    responses={
        201: {"description": "The customer's message listing the file, and any replies."},
        **errors(400, *VISITOR, 413, 422, 429),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file's bytes: PNG, JPEG, GIF or WebP images, PDF documents, "
            "or a voice note (WebM/Opus, Ogg, MP4/AAC, MP3, WAV), at most "
            "SMARTSUPPORT_ATTACHMENT_MAX_BYTES. The type is read from the bytes.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_attachment(
    conversation_id: str,
    request: Request,
    response: Response,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    client_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    caption: Annotated[str, Query(max_length=4000)] = "",
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Send a file; a voice note is transcribed and answered like a typed message."""
    services = services_of(request)
    await authorized_conversation(services, conversation_id, bearer(authorization))
    wait = await services.backplane.hit(
        f"rate:msg:{conversation_id}", services.settings.rate_limit_per_minute, 60
    )
    if wait:
        raise RateLimited("too many messages; slow down", retry_after=wait)
    data = await request.body()
    result = await receive_media(
        services,
        conversation_id,
        data,
        filename=filename,
        source="widget",
        client_id=client_id,
        caption=caption,
    )
    if result.duplicate:
        response.headers["Idempotent-Replay"] = "true"
    return {
        "message": WEB.render(result.message),
        "replies": [WEB.render(m) for m in result.replies],
        "status": result.conversation.status.value,
    }


@router.get(
    "/conversations/{conversation_id}/attachments/{attachment_id}",
    operation_id="downloadAttachment",
    response_class=Response,
    responses={
        200: {
            "description": "The file, as a download (Content-Disposition: attachment).",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **errors(*VISITOR),
    },
)
async def download_attachment(
    conversation_id: str,
    attachment_id: str,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """A file of this conversation."""
    services = services_of(request)
    await authorized_conversation(services, conversation_id, bearer(authorization))
    attachment = await attachment_of(services, conversation_id, attachment_id)
    return file_response(attachment, await attachment_records.read(services, attachment))
