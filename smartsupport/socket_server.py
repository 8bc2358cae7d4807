"""uvicorn's sans-I/O WebSocket protocol (what ``ws="auto"`` picks), minus what an idle
socket need not keep: ``smartsupport serve`` runs with it.

Per connection uvicorn keeps, for the socket's whole life, the upgrade request and the 101
response (websockets' ``Request`` and ``Response`` with their headers; the handshake parser's
suspended generator holds the request too), an ``asyncio.Queue`` (three deques and an
``Event`` with a fourth) and an ``asyncio.Event``. At 10,000 idle widgets that is about
8 KiB a socket (docs/benchmarks.md, "Idle widget sockets"). After the handshake nothing
reads the headers, so they are emptied in place; the queue and the event become the few
slots their uses need. tests/test_socket_server.py holds this to what uvicorn does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class LeanWebSockets(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.request.headers.clear()
            self.response.headers.clear()


class Inbox:
    """The part of ``asyncio.Queue`` uvicorn uses (``put_nowait``, ``get``, ``empty``), with
    its order and wake-up rules, built only when something waits or is queued."""

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = []
        self._items.append(item)
        self._wake_one()

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                self._forget(getter)
                if self._items and not getter.cancelled():
                    self._wake_one()  # it was woken for an item it will not take
                raise
            self._forget(getter)
        item = self._items.pop(0)
        if not self._items:
            self._items = None
        return item

    def _wake_one(self) -> None:
        for getter in self._getters or ():
            if not getter.done():
                getter.set_result(None)
                return

    def _forget(self, getter: asyncio.Future[None]) -> None:
        if self._getters is not None and getter in self._getters:
            self._getters.remove(getter)
            if not self._getters:
                self._getters = None


class Flag:
    """The part of ``asyncio.Event`` uvicorn uses for "the transport is writable"; set at
    first, like uvicorn's."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True
