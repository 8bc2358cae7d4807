"""The agent's WebSocket ``/api/v1/inbox/ws``: the inbox, live.

Authenticated by the staff session cookie (``current_staff`` works on WebSockets); a
handshake from another origin is refused, since browsers send cookies with cross-site
WebSocket handshakes. Server to agent:

    {"type": "ready", "user": {...}}
    {"type": "inbox", "change": "claimed|offered|resolved|...", "conversation_id"}
                             the queue or an assignment changed: refresh the lists
    {"type": "conversation", "conversation_id", "event": <conversation channel event>}
                             messages, status, typing (the customer's too) of every
                             conversation the agent holds or watches
    {"type": "unread", "conversation_id", "seq"}
                             the customer wrote in a waiting conversation: its card counts one
                             more unread message (inbox/unread.py)
    {"type": "read", "conversation_id", "agent_id", "seq"}
                             this agent read the conversation (in any tab or device); another
                             agent's read marks are not forwarded: unread is per reader
    {"type": "pong"} | {"type": "error", "code", "message"}

Agent to server: ``{"type": "watch", "conversation_id"}`` (follow one more conversation,
e.g. the one open on screen), ``{"type": "typing", "conversation_id", "on": bool, "where":
"reply|note"}`` (the customer sees the holder's reply typing; other staff get
``{"type": "agent_typing", ...}``, collision.py),
``{"type": "ping"}``. While connected the agent counts as present for round robin offers.
The frames are the models of ``frames.py`` (documented at ``/asyncapi.json``); events from
the inbox and conversation channels are forwarded as published.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from smartsupport.backplane.base import RESYNC
from smartsupport.channels.web_socket import (
    CLOSE_TRY_AGAIN,
    CLOSE_UNSUPPORTED_DATA,
    BinaryFrame,
    receive_text,
)
from smartsupport.errors import BackendError, RequestError, SmartsupportError
from smartsupport.frames import (
    AGENT_INBOUND,
    AgentReady,
    AgentTyping,
    AgentUser,
    ErrorFrame,
    Frame,
    Ping,
    Pong,
    UnknownFrame,
    Watch,
    Watching,
    inbound,
)
from smartsupport.inbox.assignment import refresh
from smartsupport.inbox.changes import load, load_for
from smartsupport.inbox.collision import announce_typing
from smartsupport.inbox.roster import mark_present
from smartsupport.inbox.store import InboxStore
from smartsupport.inbox.takeover import agent_typing
from smartsupport.inbox.unread import for_agent
from smartsupport.services import Services
from smartsupport.staff import StaffUser, current_staff
from smartsupport.wire import conversation_channel, inbox_channel

router = APIRouter()
log = logging.getLogger("smartsupport.inbox")
TICK_SECONDS = 15.0
CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED = 4403, 4401


@router.websocket("/api/v1/inbox/ws")
async def inbox_socket(ws: WebSocket) -> None:
    origin = ws.headers.get("origin")
    if origin and urlsplit(origin).netloc != ws.headers.get("host"):
        await ws.close(CLOSE_FORBIDDEN)
        return
    try:
        user = await current_staff(ws)
    except RequestError as exc:
        await ws.accept()
        await ws.close(CLOSE_UNAUTHORIZED, reason=exc.code)
        return
    await ws.accept()
    services: Services = ws.app.state.services
    with services.telemetry.socket("staff"):  # an open inbox, for /metrics
        await AgentSocket(services, ws, user).run()


class AgentSocket:
    def __init__(self, services: Services, ws: WebSocket, user: StaffUser) -> None:
        self.services, self.ws, self.user = services, ws, user
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self.pumps: dict[str, asyncio.Task[None]] = {}
        self.watched: str | None = None

    async def run(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            for workspace_id in self.user.workspaces:
                await self.follow(inbox_channel(workspace_id), None)
            await self.follow_held()
            user = AgentUser(id=self.user.id, name=self.user.name, role=self.user.role)
            await self.send(AgentReady(user=user))
            await mark_present(self.services, self.user.id)
            for workspace_id in self.user.workspaces:
                await refresh(self.services, workspace_id)  # someone new to offer to
            tasks = [
                asyncio.create_task(self.forward()),
                asyncio.create_task(self.receive()),
                asyncio.create_task(self.tick()),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                failure = None if task.cancelled() else task.exception()
                if isinstance(failure, BinaryFrame):
                    await self.ws.close(CLOSE_UNSUPPORTED_DATA, "frames are JSON text")
                elif isinstance(failure, BackendError):
                    log.error("inbox socket: a backend is unavailable", exc_info=failure)
                    await self.ws.close(CLOSE_TRY_AGAIN, "a backend is unavailable")
                elif failure is not None and not isinstance(failure, WebSocketDisconnect):
                    log.error("inbox socket failed", exc_info=failure)
        except WebSocketDisconnect:
            pass
        finally:
            for task in [*tasks, *self.pumps.values()]:
                task.cancel()
            await asyncio.gather(*tasks, *self.pumps.values(), return_exceptions=True)

    async def send(self, frame: Frame | dict[str, Any]) -> None:
        """A frame built here, or an event from a channel as published."""
        data = frame.dump() if isinstance(frame, Frame) else frame
        await self.ws.send_text(json.dumps(data, separators=(",", ":"), default=str))

    async def follow(self, channel: str, conversation_id: str | None) -> None:
        if channel in self.pumps:
            return
        subscription = await self.services.backplane.subscribe(channel)

        async def pump() -> None:
            try:
                async for event in subscription:
                    frame: dict[str, Any]
                    if event == RESYNC:  # after a backplane outage: reload, events were lost
                        frame = {"type": "inbox", "change": "resync"}
                        frame["conversation_id"] = conversation_id
                    elif conversation_id is None:
                        if not for_agent(event, self.user.id):
                            continue
                        frame = event
                    else:
                        frame = {
                            "type": "conversation",
                            "conversation_id": conversation_id,
                            "event": event,
                        }
                    await self.outbox.put(frame)
            finally:
                await asyncio.shield(subscription.close())

        self.pumps[channel] = asyncio.create_task(pump())

    def unfollow(self, conversation_id: str) -> None:
        task = self.pumps.pop(conversation_channel(conversation_id), None)
        if task is not None:
            task.cancel()

    async def follow_held(self) -> None:
        """Follow every conversation the agent holds (and stop following released ones)."""
        held = set(await InboxStore(self.services.store).held_by(self.user.id))
        if self.watched:
            held.add(self.watched)
        for channel in [c for c in self.pumps if c.startswith("conversation:")]:
            if channel.removeprefix("conversation:") not in held:
                self.unfollow(channel.removeprefix("conversation:"))
        for conversation_id in held:
            await self.follow(conversation_channel(conversation_id), conversation_id)

    async def forward(self) -> None:
        while True:
            frame = await self.outbox.get()
            if frame.get("type") == "inbox":
                await self.follow_held()
                if frame.get("change") == "status" and frame.get("conversation_id"):
                    # Set by the conversation path: offers and queue places are due.
                    conversation = await load(self.services, str(frame["conversation_id"]))
                    await self.refresh_once(conversation.workspace_id, 1.0)
            await self.send(frame)

    async def refresh_once(self, workspace_id: str, every: float) -> None:
        """Every agent socket of the workspace sees the same change; one of them acts."""
        key = f"inbox:refreshed:{workspace_id}"
        if await self.services.backplane.get(key) is None:
            await self.services.backplane.set(key, b"1", every)
            await refresh(self.services, workspace_id)

    async def tick(self) -> None:
        """Presence for round robin, and offers that expired meanwhile passed on."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await mark_present(self.services, self.user.id)
            for workspace_id in self.user.workspaces:
                await self.refresh_once(workspace_id, TICK_SECONDS / 2)

    async def receive(self) -> None:
        while True:
            raw = await receive_text(self.ws)
            try:
                frame = json.loads(raw)
                if not isinstance(frame, dict):
                    raise ValueError
            except ValueError:
                await self.send(ErrorFrame(code="invalid_json", message="frames are JSON objects"))
                continue
            try:
                await self.handle(inbound(frame, AGENT_INBOUND))
            except UnknownFrame as exc:
                await self.send(ErrorFrame(code="unknown_type", message=str(exc)))
            except ValidationError as exc:
                message = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
                await self.send(ErrorFrame(code="invalid_input", message=message))
            except RequestError as exc:
                await self.send(ErrorFrame(code=exc.code, message=exc.message))
            except SmartsupportError as exc:
                log.error("inbox socket frame failed", exc_info=exc)
                await self.send(ErrorFrame(code="unavailable", message="retry shortly"))

    async def handle(self, frame: Frame) -> None:
        if isinstance(frame, Ping):
            await self.send(Pong())
        elif isinstance(frame, Watch):
            await load_for(self.services, self.user, frame.conversation_id)
            self.watched = frame.conversation_id
            await self.follow_held()
            await self.send(Watching(conversation_id=frame.conversation_id))
        elif isinstance(frame, AgentTyping):
            if frame.where == "reply":  # the customer sees the holder typing a reply
                await agent_typing(self.services, self.user, frame.conversation_id, frame.on)
            # Other staff see anyone typing (collision.py), across replicas.
            await announce_typing(
                self.services, self.user, frame.conversation_id, frame.on, frame.where
            )
