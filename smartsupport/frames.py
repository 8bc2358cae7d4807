"""WebSocket frames as typed models: what the widget's socket (``channels/web_socket.py``)
and the agents' socket (``inbox/socket.py``) accept and send. ``asyncapi.py`` documents them
at ``/asyncapi.json``.

    widget -> server     Hello (first), CustomerMessage, CustomerTyping, Ping
    server -> widget     Ready, then conversation events: MessageEvent, TypingEvent,
                         DeltaEvent, StatusEvent, QueueEvent, CsatEvent; Pong, ErrorFrame
    agent  -> server     Watch, AgentTyping, Ping
    server -> agent      AgentReady, InboxChange, ConversationFrame (a conversation event),
                         Watching, AgentTypingPresence, UnreadMessage, ReadMark, Pong,
                         ErrorFrame

Inbound models ignore unknown keys and coerce like the handlers always did (``on`` is truthy);
``inbound(frame, table)`` picks the model by ``type``. Outbound frames are built from the
models and sent as ``frame.dump()``: the keys that were given, in the model's order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from smartsupport.domain import ConversationStatus
from smartsupport.limits import MAX_SEQ
from smartsupport.wire import MessageOut


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def dump(self) -> dict[str, Any]:
        """The frame as JSON-ready data; optional keys appear only when given."""
        return self.model_dump(mode="json", include={"type", *self.model_fields_set})


class InboundFrame(Frame):
    model_config = ConfigDict(extra="ignore")


class UnknownFrame(ValueError):
    """A frame whose ``type`` the socket does not accept."""

    def __init__(self, kind: Any) -> None:
        super().__init__(f"unknown frame type {kind!r}")


def inbound(frame: dict[str, Any], table: dict[str, type[InboundFrame]]) -> InboundFrame:
    """The model for a decoded frame; UnknownFrame for a type not in ``table``, pydantic's
    ValidationError (a ValueError) for a known type with wrong fields."""
    model = table.get(frame.get("type"))  # type: ignore[arg-type]
    if model is None:
        raise UnknownFrame(frame.get("type"))
    return model.model_validate(frame)


def _truthy(value: Any) -> bool:
    return bool(value)


# ---- both sockets ---------------------------------------------------------------------------
class Ping(InboundFrame):
    """Keep-alive; answered with a pong."""

    type: Literal["ping"] = "ping"


class Pong(Frame):
    type: Literal["pong"] = "pong"


class ErrorFrame(Frame):
    """A frame the server could not act on; the socket stays open."""

    type: Literal["error"] = "error"
    client_id: str | None = Field(
        default=None, description="Only on errors about a message frame: its client_id."
    )
    code: str = Field(description="invalid_json, unknown_type, invalid_input, rate_limited, ...")
    message: str


# ---- conversation events: published on a conversation's channel ---------------------------
class MessageEvent(Frame):
    """A stored message (the customer's own too: its client_id acknowledges it). The same
    ``seq`` again with more attachments is the message changed: a WhatsApp or SMS file
    fetched after it came (channels/media_retry.py) replaces the one shown."""

    type: Literal["message"] = "message"
    message: MessageOut


class TypingEvent(Frame):
    type: Literal["typing"] = "typing"
    author: Literal["customer", "bot", "agent"]
    on: bool


class DeltaEvent(Frame):
    """The next tokens of a streamed answer; the final MessageEvent replaces them."""

    type: Literal["delta"] = "delta"
    reply_to: str = Field(description="The id of the customer message being answered.")
    text: str


class StatusEvent(Frame):
    type: Literal["status"] = "status"
    status: ConversationStatus


class QueueEvent(Frame):
    """The conversation's place in the queue while it waits for a person."""

    type: Literal["queue"] = "queue"
    position: int
    estimated_wait_minutes: int | None = Field(description="null while no agent is online")
    agents_online: int


class CsatEvent(Frame):
    """The conversation was resolved: ask for a rating (GET/POST .../csat)."""

    type: Literal["csat"] = "csat"


ConversationEvent = Annotated[
    MessageEvent | TypingEvent | DeltaEvent | StatusEvent | QueueEvent | CsatEvent,
    Field(discriminator="type"),
]


# ---- the widget's socket ---------------------------------------------------------------------
class Hello(InboundFrame):
    """The first frame: the visitor token and the last sequence number seen (0 for all)."""

    type: Literal["hello"]
    token: StrictStr | None = None
    after: int | None = Field(default=0, le=MAX_SEQ)


class CustomerMessage(InboundFrame):
    """Same semantics as POST .../messages."""

    type: Literal["message"] = "message"
    text: StrictStr
    client_id: StrictStr | None = Field(default=None, min_length=1, max_length=64)


class CustomerTyping(InboundFrame):
    type: Literal["typing"] = "typing"
    on: bool = False

    _on = field_validator("on", mode="before")(_truthy)


class Ready(Frame):
    """The answer to hello; the missed messages follow, then live events."""

    type: Literal["ready"] = "ready"
    status: ConversationStatus
    last_seq: int


WidgetServerFrame = Annotated[
    Ready
    | MessageEvent
    | TypingEvent
    | DeltaEvent
    | StatusEvent
    | QueueEvent
    | CsatEvent
    | Pong
    | ErrorFrame,
    Field(discriminator="type"),
]
WIDGET_INBOUND: dict[str, type[InboundFrame]] = {
    "message": CustomerMessage,
    "typing": CustomerTyping,
    "ping": Ping,
}


# ---- the agents' socket ---------------------------------------------------------------------
def _text(value: Any) -> str:
    return str(value or "")


class Watch(InboundFrame):
    """Follow one more conversation (the one open on screen)."""

    type: Literal["watch"] = "watch"
    conversation_id: str = ""

    _id = field_validator("conversation_id", mode="before")(_text)


class AgentTyping(InboundFrame):
    type: Literal["typing"] = "typing"
    conversation_id: str = ""
    on: bool = False
    where: Literal["reply", "note"] = Field(
        default="reply", description="the reply box (the customer sees it) or a private note"
    )

    _id = field_validator("conversation_id", mode="before")(_text)
    _on = field_validator("on", mode="before")(_truthy)


class AgentUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    role: str


class AgentReady(Frame):
    type: Literal["ready"] = "ready"
    user: AgentUser


class InboxChange(Frame):
    """The queue or an assignment changed: refresh the lists."""

    type: Literal["inbox"] = "inbox"
    change: str = Field(
        description="status, offered, joined, claimed, transferred, handed_back, resolved, "
        "reopened, priority, note, ..."
    )
    conversation_id: str | None


class ConversationFrame(Frame):
    """An event of a conversation the agent holds or watches."""

    type: Literal["conversation"] = "conversation"
    conversation_id: str
    event: ConversationEvent


class Watching(Frame):
    type: Literal["watching"] = "watching"
    conversation_id: str


class AgentTypingPresence(Frame):
    """A staff member is typing in a conversation: the collision warning (inbox/collision.py)."""

    type: Literal["agent_typing"] = "agent_typing"
    conversation_id: str
    agent_id: str
    agent_name: str
    on: bool
    where: Literal["reply", "note"]


class UnreadMessage(Frame):
    """The customer wrote in a conversation waiting in the queue: its card counts one more
    unread message, unless the count already includes ``seq`` (the lists' ``last_seq``)."""

    type: Literal["unread"] = "unread"
    conversation_id: str
    seq: int = Field(ge=1, le=MAX_SEQ, description="The customer's message.")


class ReadMark(Frame):
    """The agent read the conversation up to ``seq``, in this tab or another tab or device:
    the customer's messages up to it are no longer unread. Sent only to that agent."""

    type: Literal["read"] = "read"
    conversation_id: str
    agent_id: str
    seq: int = Field(ge=0, le=MAX_SEQ)


AgentServerFrame = Annotated[
    AgentReady
    | InboxChange
    | ConversationFrame
    | Watching
    | AgentTypingPresence
    | UnreadMessage
    | ReadMark
    | Pong
    | ErrorFrame,
    Field(discriminator="type"),
]
AGENT_INBOUND: dict[str, type[InboundFrame]] = {
    "watch": Watch,
    "typing": AgentTyping,
    "ping": Ping,
}
