"""The widget's WebSocket: live events for one conversation, with resume after reconnects.

Subscribing before reading the history is what makes resume exact: anything published while
the history is being sent is queued, and sequence numbers drop what was already sent. The
frames are the models of ``frames.py`` (documented at ``/asyncapi.json``); events from the
conversation's channel are forwarded as published.

``WidgetSockets``, the innermost middleware of ``create_app``, serves the socket in plain ASGI
(``plain_socket.py``) before FastAPI's exception middleware, router and dependency solving:
thousands of idle widgets each kept those frames alive (docs/benchmarks.md, "Idle widget
sockets"). The route below declares the socket (``/asyncapi.json``, the access matrix) and
serves it the same way to an app built without the middleware.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette import websockets as _starlette_ws
from starlette.datastructures import State
from starlette.routing import compile_path, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from smartsupport.backplane.base import RESYNC
from smartsupport.channels.plain_socket import PlainSocket
from smartsupport.channels.web import WebChannel
from smartsupport.conversation import handle_message
from smartsupport.domain import Conversation
from smartsupport.errors import (
    BackendError,
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
    StatusEvent,
    TypingEvent,
    UnknownFrame,
    inbound,
)
from smartsupport.limits import Unstorable, check_text
from smartsupport.services import Services
from smartsupport.visitor_tokens import check_not_revoked, verify_token
from smartsupport.wire import conversation_channel

router = APIRouter()
WEB = WebChannel()
WIDGET_SOCKET = "/api/v1/conversations/{conversation_id}/ws"
# Starlette >= 1.0 raises WebSocketDisconnected when the socket is used after it closed.
GONE = tuple(
    e for e in (WebSocketDisconnect, getattr(_starlette_ws, "WebSocketDisconnected", None)) if e
)
log = logging.getLogger("smartsupport.ws")

HELLO_TIMEOUT = 10.0
CLOSE_BAD_REQUEST, CLOSE_UNAUTHORIZED, CLOSE_NOT_FOUND, CLOSE_TRY_AGAIN = 4400, 4401, 4404, 1013
CLOSE_UNSUPPORTED_DATA, CLOSE_POLICY = 1003, 1008  # RFC 6455: binary frames; too many sockets


class BinaryFrame(Exception):
    """The client sent bytes; the protocol is JSON text frames only."""


async def receive_text(ws: WebSocket | PlainSocket) -> str:
    """The next text frame. Starlette's ``receive_text`` raises KeyError on a binary frame,
    which dropped the connection without a close code."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    if message.get("text") is None:
        raise BinaryFrame
    text: str = message["text"]
    return text


class _Socket:
    """Serialises sends and remembers the highest sequence number delivered."""

    def __init__(self, ws: WebSocket | PlainSocket, after: int) -> None:
        self.ws = ws
        self.last_seq = after
        self._lock = asyncio.Lock()
        self.typing_at = float("-inf")
        self.typing_on = False

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


class WidgetSockets:
    """ASGI middleware: a WebSocket to ``WIDGET_SOCKET`` is served here; anything else goes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.path = compile_path(WIDGET_SOCKET)[0]  # the route's own pattern

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            match = self.path.match(get_route_path(scope))
            if match is not None:
                # The middleware above read the headers (request id, client address); the
                # socket authenticates with its hello frame, so it has no use for them, and
                # the scope lives as long as the socket.
                scope["headers"] = []
                socket = PlainSocket(receive, send)
                try:
                    await _session(scope["app"].state, socket, match["conversation_id"])
                except BackendError as exc:  # what the app's handler does on the route
                    log.error("backend error on websocket %s", scope["path"], exc_info=exc)
                    await _try_close(socket, CLOSE_TRY_AGAIN, "a backend is unavailable")
                return
        await self.app(scope, receive, send)


@router.websocket("/api/v1/conversations/{conversation_id}/ws")
async def conversation_socket(ws: WebSocket, conversation_id: str) -> None:
    await _session(ws.app.state, ws, conversation_id)


async def _session(state: State, ws: WebSocket | PlainSocket, conversation_id: str) -> None:
    """Handshake, hello, then the conversation's events until either side leaves."""
    services: Services = state.services
    await ws.accept()
    ttl = services.settings.visitor_token_ttl_seconds
    try:
        hello = _hello(await asyncio.wait_for(receive_text(ws), HELLO_TIMEOUT))
        after = hello.after or 0
        issued = verify_token(services.secret_key, hello.token, conversation_id, ttl=ttl)
        conversation = await services.store.get_conversation(conversation_id)
        if conversation is None:
            await ws.close(CLOSE_NOT_FOUND, reason="unknown conversation")
            return
        check_not_revoked(issued, conversation.metadata)
    except (Unauthorized, Forbidden) as exc:
        await ws.close(CLOSE_UNAUTHORIZED, reason=str(exc)[:120])
        return
    except BinaryFrame:
        await ws.close(CLOSE_UNSUPPORTED_DATA, reason="frames are JSON text")
        return
    except (ValueError, TypeError, TimeoutError) as exc:
        await ws.close(CLOSE_BAD_REQUEST, reason=str(exc)[:120])
        return
    except BackendError as exc:
        log.error("websocket connect failed: a backend is unavailable", exc_info=exc)
        await ws.close(CLOSE_TRY_AGAIN, reason="a backend is unavailable; retry shortly")
        return
    except WebSocketDisconnect:
        return
    with _Held(state, conversation_id) as admitted:
        if not admitted:
            await ws.close(CLOSE_POLICY, reason="too many open sockets for this conversation")
            return
        await _serve(services, ws, conversation, after)


class _Held:
    """Counts this process's sockets of a conversation; refuses one above the cap."""

    def __init__(self, state: State, conversation_id: str) -> None:
        if getattr(state, "widget_sockets", None) is None:
            state.widget_sockets = Counter()
        self.counts: Counter[str] = state.widget_sockets
        self.cap = state.settings.ws_sockets_per_conversation
        self.key = conversation_id
        self.admitted = False

    def __enter__(self) -> bool:
        self.admitted = self.counts[self.key] < self.cap
        if self.admitted:
            self.counts[self.key] += 1
        return self.admitted

    def __exit__(self, *exc: object) -> None:
        if self.admitted:
            self.counts[self.key] -= 1
            if self.counts[self.key] <= 0:
                del self.counts[self.key]


async def _serve(
    services: Services, ws: WebSocket | PlainSocket, conversation: Conversation, after: int
) -> None:
    conversation_id = conversation.id
    try:
        subscription = await services.backplane.subscribe(conversation_channel(conversation_id))
    except BackendError as exc:
        log.error("websocket subscribe failed: a backend is unavailable", exc_info=exc)
        await ws.close(CLOSE_TRY_AGAIN, reason="a backend is unavailable; retry shortly")
        return
    socket = _Socket(ws, max(after, 0))
    forward: asyncio.Task[None] | None = None
    with services.telemetry.socket("visitor"):  # an open widget, for /metrics
        try:
            await socket.send(Ready(status=conversation.status, last_seq=conversation.last_seq))
            await _catch_up(services, socket, conversation_id)
            forward = asyncio.create_task(_forward(services, socket, conversation_id, subscription))
            forward.add_done_callback(lambda _: _close_when_feed_ends(ws, forward))
            await _receive(services, socket, conversation_id)
        except GONE:
            pass
        except BinaryFrame:
            await _try_close(ws, CLOSE_UNSUPPORTED_DATA, "frames are JSON text")
        except BackendError as exc:
            log.error("websocket failed: a backend is unavailable", exc_info=exc)
            await _try_close(ws, CLOSE_TRY_AGAIN, "a backend is unavailable; retry shortly")
        finally:
            if forward is not None:
                forward.cancel()
            # Shielded so that a cancelled handler (server shutdown) still unsubscribes.
            await asyncio.shield(subscription.close())


def _close_when_feed_ends(ws: WebSocket | PlainSocket, forward: asyncio.Task[None] | None) -> None:
    """The subscription ended under us (slow consumer, backplane restart): ask the client to
    reconnect; it resumes from its last sequence number, so nothing is lost."""
    if forward is None or forward.cancelled():
        return
    failure = forward.exception()
    if failure is not None and not isinstance(failure, GONE):  # gone: a shutdown, a client left
        log.error("websocket feed failed", exc_info=failure)
    asyncio.ensure_future(_try_close(ws))


async def _try_close(
    ws: WebSocket | PlainSocket, code: int = CLOSE_TRY_AGAIN, reason: str = ""
) -> None:
    try:
        await ws.close(code, reason)
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
        if event == RESYNC:
            await _resync(services, socket, conversation_id)
            continue
        if event.get("type") == "message":
            seq = event["message"]["seq"]
            if seq <= socket.last_seq:
                continue
            if seq > socket.last_seq + 1:
                await _catch_up(services, socket, conversation_id)  # fill a gap from the store
                continue
            socket.last_seq = seq
        await socket.send(event)


async def _resync(services: Services, socket: _Socket, conversation_id: str) -> None:
    """After a backplane outage (``RESYNC``): what was published meanwhile is lost, so the
    socket sends what the database holds beyond what it sent, and the current status."""
    await _catch_up(services, socket, conversation_id)
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is not None:
        await socket.send(StatusEvent(status=conversation.status))


async def _receive(services: Services, socket: _Socket, conversation_id: str) -> None:
    while True:
        raw = await receive_text(socket.ws)
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
            if _typing_passes(socket, frame.on, services.settings.ws_typing_interval_seconds):
                typing = TypingEvent(author="customer", on=frame.on)
                await publish(services, conversation_id, typing.dump())
        elif isinstance(frame, CustomerMessage):
            await _customer_message(services, socket, conversation_id, frame)


def _typing_passes(socket: _Socket, on: bool, interval: float) -> bool:
    """One typing frame per interval is passed on (each is a publish to every agent), plus
    the "stopped" that follows a "started", so an indicator never sticks."""
    now = time.monotonic()
    if now - socket.typing_at < interval and (on or not socket.typing_on):
        return False
    socket.typing_at, socket.typing_on = now, on
    return True


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
        check_text(frame.text, "text")
        if frame.client_id is not None:
            check_text(frame.client_id, "client_id")
        wait = await services.backplane.hit(
            f"rate:msg:{conversation_id}", services.settings.rate_limit_per_minute, 60
        )
        if wait:
            raise RateLimited("too many messages; slow down", retry_after=wait)
        payload = {"text": frame.text, "client_id": frame.client_id}
        for incoming in WEB.parse(conversation_id, payload):
            if (await handle_message(services, incoming)).duplicate:
                # A resend after an acknowledgement timeout: the echo that acknowledges it
                # (and the replies) may have been lost, so this socket gets them again.
                await _catch_up(services, socket, conversation_id)
    except Unstorable as exc:
        error = ("invalid_input", str(exc))
    except RequestError as exc:
        error = (exc.code, exc.message)
    except SmartsupportError as exc:
        log.error("turn failed", exc_info=exc)
        error = ("unavailable", "the assistant is unavailable; retry shortly")
    if error is not None:
        code, message = error
        await socket.send(ErrorFrame(client_id=frame.client_id, code=code, message=message))
