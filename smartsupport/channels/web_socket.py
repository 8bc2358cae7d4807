"""The widget's WebSocket: live events for one conversation, with resume after reconnects.

Subscribing before reading the history is what makes resume exact: anything published while
the history is being sent is queued, and sequence numbers drop what was already sent. The
frames are the models of ``frames.py`` (documented at ``/asyncapi.json``); events from the
conversation's channel are forwarded as published.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette import websockets as _starlette_ws

from smartsupport.channels.web import WebChannel
from smartsupport.conversation import handle_message
from smartsupport.errors import (
    Forbidden,
    RateLimited,
    RequestError,
    SmartsupportError,
    Unauthorized,
)
from smartsupport.fanout import publish
from smartsupport.frames import (
    WIDGET_INBOUND,
    CustomerMessage,
    CustomerTyping,
    ErrorFrame,
    Frame,
    Hello,
    MessageEvent,
    Ping,
    Pong,
    Ready,
    TypingEvent,
    UnknownFrame,
    inbound,
)
from smartsupport.services import Services
from smartsupport.visitor_tokens import verify_token
from smartsupport.wire import conversation_channel

router = APIRouter()
WEB = WebChannel()
# Starlette >= 1.0 raises WebSocketDisconnected when the socket is used after it closed.
GONE = tuple(
    e for e in (WebSocketDisconnect, getattr(_starlette_ws, "WebSocketDisconnected", None)) if e
)
log = logging.getLogger("smartsupport.ws")

HELLO_TIMEOUT = 10.0
CLOSE_BAD_REQUEST, CLOSE_UNAUTHORIZED, CLOSE_NOT_FOUND, CLOSE_TRY_AGAIN = 4400, 4401, 4404, 1013


class _Socket:
    """Serialises sends and remembers the highest sequence number delivered."""

    def __init__(self, ws: WebSocket, after: int) -> None:
        self.ws = ws
        self.last_seq = after
        self._lock = asyncio.Lock()

    async def send(self, frame: Frame | dict[str, Any]) -> None:
        """A frame built here, or an event from the conversation's channel as published."""
        data = frame.dump() if isinstance(frame, Frame) else frame
        async with self._lock:
            await self.ws.send_text(json.dumps(data, separators=(",", ":")))


def _hello(raw: str) -> Hello:
    try:
        return Hello.model_validate(json.loads(raw))
    except ValidationError:
        raise ValueError(
            "the first frame must be {'type': 'hello', 'token': ..., 'after': N}"
        ) from None


@router.websocket("/api/v1/conversations/{conversation_id}/ws")
async def conversation_socket(ws: WebSocket, conversation_id: str) -> None:
    services: Services = ws.app.state.services
    await ws.accept()
    try:
        hello = _hello(await asyncio.wait_for(ws.receive_text(), HELLO_TIMEOUT))
        after = hello.after or 0
        verify_token(services.secret_key, hello.token, conversation_id)
    except (Unauthorized, Forbidden) as exc:
        await ws.close(CLOSE_UNAUTHORIZED, reason=str(exc)[:120])
        return
    except (ValueError, TypeError, TimeoutError) as exc:
        await ws.close(CLOSE_BAD_REQUEST, reason=str(exc)[:120])
        return
    except WebSocketDisconnect:
        return
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        await ws.close(CLOSE_NOT_FOUND, reason="unknown conversation")
        return
    subscription = await services.backplane.subscribe(conversation_channel(conversation_id))
    socket = _Socket(ws, max(after, 0))
    forward: asyncio.Task[None] | None = None
    try:
        await socket.send(Ready(status=conversation.status, last_seq=conversation.last_seq))
        await _catch_up(services, socket, conversation_id)
        forward = asyncio.create_task(_forward(services, socket, conversation_id, subscription))
        forward.add_done_callback(lambda _: _close_when_feed_ends(ws, forward))
        await _receive(services, socket, conversation_id)
    except GONE:
        pass
    finally:
        if forward is not None:
            forward.cancel()
        # Shielded so that a cancelled handler (server shutdown) still unsubscribes.
        await asyncio.shield(subscription.close())


def _close_when_feed_ends(ws: WebSocket, forward: asyncio.Task[None] | None) -> None:
    """The subscription ended under us (slow consumer, backplane restart): ask the client to
    reconnect; it resumes from its last sequence number, so nothing is lost."""
    if forward is None or forward.cancelled():
        return
    if forward.exception() is not None:
        log.error("websocket feed failed", exc_info=forward.exception())
    asyncio.ensure_future(_try_close(ws))


async def _try_close(ws: WebSocket) -> None:
    try:
        await ws.close(CLOSE_TRY_AGAIN)
    except Exception:  # noqa: BLE001 - the socket may already be gone; nothing to do
        pass


async def _catch_up(services: Services, socket: _Socket, conversation_id: str) -> None:
    while True:
        missed = await services.store.list_messages(conversation_id, after=socket.last_seq)
        for message in missed:
            await socket.send(MessageEvent.model_validate({"message": WEB.render(message)}))
            socket.last_seq = message.seq
        if len(missed) < 1000:
            return


async def _forward(services: Services, socket: _Socket, conversation_id: str, subscription) -> None:
    async for event in subscription:
        if event.get("type") == "message":
            seq = event["message"]["seq"]
            if seq <= socket.last_seq:
                continue
            if seq > socket.last_seq + 1:
                await _catch_up(services, socket, conversation_id)  # fill a gap from the store
                continue
            socket.last_seq = seq
        await socket.send(event)


async def _receive(services: Services, socket: _Socket, conversation_id: str) -> None:
    while True:
        raw = await socket.ws.receive_text()
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            await socket.send(ErrorFrame(code="invalid_json", message="frames are JSON objects"))
            continue
        try:
            frame = inbound(data, WIDGET_INBOUND)
        except UnknownFrame as exc:
            await socket.send(ErrorFrame(code="unknown_type", message=str(exc)))
            continue
        except ValidationError as exc:
            await socket.send(_invalid_message(data, exc))
            continue
        if isinstance(frame, Ping):
            await socket.send(Pong())
        elif isinstance(frame, CustomerTyping):
            typing = TypingEvent(author="customer", on=frame.on)
            await publish(services, conversation_id, typing.dump())
        elif isinstance(frame, CustomerMessage):
            await _customer_message(services, socket, conversation_id, frame)


def _invalid_message(data: dict[str, Any], exc: ValidationError) -> ErrorFrame:
    """A message frame with wrong fields (the only inbound frame that can have them)."""
    client_id = data.get("client_id")
    if all(e["type"] in ("string_too_short", "string_too_long") for e in exc.errors()):
        message = "'client_id' must be 1 to 64 characters"
    else:
        message = "'text' must be a string, 'client_id' a string"
    return ErrorFrame(
        client_id=client_id if isinstance(client_id, str) else None,
        code="invalid_input",
        message=message,
    )


async def _customer_message(
    services: Services, socket: _Socket, conversation_id: str, frame: CustomerMessage
) -> None:
    error: tuple[str, str] | None = None
    try:
        wait = await services.backplane.hit(
            f"rate:msg:{conversation_id}", services.settings.rate_limit_per_minute, 60
        )
        if wait:
            raise RateLimited("too many messages; slow down", retry_after=wait)
        payload = {"text": frame.text, "client_id": frame.client_id}
        for incoming in WEB.parse(conversation_id, payload):
            await handle_message(services, incoming)
    except RequestError as exc:
        error = (exc.code, exc.message)
    except SmartsupportError as exc:
        log.error("turn failed", exc_info=exc)
        error = ("unavailable", "the assistant is unavailable; retry shortly")
    if error is not None:
        code, message = error
        await socket.send(ErrorFrame(client_id=frame.client_id, code=code, message=message))
