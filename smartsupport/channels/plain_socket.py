"""A WebSocket spoken in plain ASGI messages: what the widget's socket needs of Starlette's
``WebSocket``, without the object, its request machinery or the router's frames around it.

An idle widget socket is mostly the per-connection stack of the web framework
(docs/benchmarks.md, "Idle widget sockets"); this keeps four slots. The state checks and the
exceptions are Starlette's, so code written against its ``WebSocket`` (``receive_text``, the
``GONE`` exceptions of ``web_socket.py``) behaves the same on either.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Send
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected


class PlainSocket:
    __slots__ = ("_receive", "_send", "_received_all", "_sent_all")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._received_all = False  # the client's disconnect was received
        self._sent_all = False  # our close was sent (or the client is gone)

    async def accept(self) -> None:
        """Wait for the client's connect, then complete the handshake."""
        message = await self._receive()
        if message["type"] != "websocket.connect":
            raise RuntimeError(f'Expected "websocket.connect", got {message["type"]!r}')
        await self._send({"type": "websocket.accept", "subprotocol": None, "headers": []})

    async def receive(self) -> Message:
        """The next ``websocket.receive`` or ``websocket.disconnect`` message."""
        if self._received_all:
            raise WebSocketDisconnected('Cannot call "receive" once a disconnect was received.')
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self._received_all = True
        elif message["type"] != "websocket.receive":
            raise RuntimeError(f'Expected "websocket.receive", got {message["type"]!r}')
        return message

    async def send_text(self, data: str) -> None:
        await self._send_after_accept({"type": "websocket.send", "text": data})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        message = {"type": "websocket.close", "code": code, "reason": reason or ""}
        await self._send_after_accept(message)

    async def _send_after_accept(self, message: Message) -> None:
        if self._sent_all:
            raise WebSocketDisconnected('Cannot call "send" once a close message has been sent.')
        if message["type"] == "websocket.close":
            self._sent_all = True
        try:
            await self._send(message)
        except OSError:  # the server's ClientDisconnected: the client went away meanwhile
            self._sent_all = True
            raise WebSocketDisconnect(code=1006) from None
