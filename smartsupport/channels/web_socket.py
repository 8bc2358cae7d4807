"""The widget's WebSocket: live events for one conversation, with resume after reconnects.

Subscribing before reading the history is what makes resume exact: anything published while
the history is being sent is queued, and sequence numbers drop what was already sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
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

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self.ws.send_text(json.dumps(frame, separators=(",", ":")))


@router.websocket("/api/v1/conversations/{conversation_id}/ws")
async def conversation_socket(ws: WebSocket, conversation_id: str) -> None:
    services: Services = ws.app.state.services
    await ws.accept()
    try:
        hello = json.loads(await asyncio.wait_for(ws.receive_text(), HELLO_TIMEOUT))
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            raise ValueError("the first frame must be {'type': 'hello', 'token': ..., 'after': N}")
        after = int(hello.get("after") or 0)
        verify_token(services.secret_key, hello.get("token"), conversation_id)
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
        await socket.send(
            {
                "type": "ready",
                "status": conversation.status.value,
                "last_seq": conversation.last_seq,
            }
        )
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
            await socket.send({"type": "message", "message": WEB.render(message)})
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
            frame = json.loads(raw)
            if not isinstance(frame, dict):
                raise ValueError
        except ValueError:
            await socket.send(
                {"type": "error", "code": "invalid_json", "message": "frames are JSON objects"}
            )
            continue
        kind = frame.get("type")
        if kind == "ping":
            await socket.send({"type": "pong"})
        elif kind == "typing":
            await publish(
                services,
                conversation_id,
                {"type": "typing", "author": "customer", "on": bool(frame.get("on"))},
            )
        elif kind == "message":
            await _customer_message(services, socket, conversation_id, frame)
        else:
            await socket.send(
                {"type": "error", "code": "unknown_type", "message": f"unknown frame type {kind!r}"}
            )


async def _customer_message(
    services: Services, socket: _Socket, conversation_id: str, frame: dict[str, Any]
) -> None:
    client_id = frame.get("client_id")
    text = frame.get("text")
    error: dict[str, Any] | None = None
    if not isinstance(text, str) or (client_id is not None and not isinstance(client_id, str)):
        error = {
            "code": "invalid_input",
            "message": "'text' must be a string, 'client_id' a string",
        }
    elif client_id is not None and not 1 <= len(client_id) <= 64:
        error = {"code": "invalid_input", "message": "'client_id' must be 1 to 64 characters"}
    else:
        try:
            wait = await services.backplane.hit(
                f"rate:msg:{conversation_id}", services.settings.rate_limit_per_minute, 60
            )
            if wait:
                raise RateLimited("too many messages; slow down", retry_after=wait)
            payload = {"text": text, "client_id": client_id}
            for incoming in WEB.parse(conversation_id, payload):
                await handle_message(services, incoming)
        except RequestError as exc:
            error = {"code": exc.code, "message": exc.message}
        except SmartsupportError as exc:
            log.error("turn failed", exc_info=exc)
            error = {
                "code": "unavailable",
                "message": "the assistant is unavailable; retry shortly",
            }
    if error is not None:
        await socket.send({"type": "error", "client_id": client_id, **error})
