"""The WebSocket protocols as an AsyncAPI 3.0 document (``/asyncapi.json``), made from the
frame models of ``frames.py`` that the sockets use, so the document cannot drift from them.

Each socket is a channel; the server's two operations per channel list what it receives
(``action: receive``) and what it sends (``action: send``). Payload schemas are pydantic's
JSON Schemas, with the discriminator in AsyncAPI's form (the property name).
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from smartsupport import frames

SCHEMAS = "#/components/schemas/{model}"

# (channel, address, description, frames the server receives, frames it sends)
CHANNELS: list[tuple[str, str, str, list[type[BaseModel]], list[type[BaseModel]]]] = [
    (
        "widget",
        "/api/v1/conversations/{conversation_id}/ws",
        "The widget's live conversation. The first frame is a hello; the server answers ready, "
        "the messages after `after`, then live events. Close codes: 4400 malformed hello, "
        "4401 bad token, 4404 unknown conversation, 1013 reconnect and resume, 1012 the "
        "server is shutting down: reconnect and resume.",
        [frames.Hello, frames.CustomerMessage, frames.CustomerTyping, frames.Ping],
        [
            frames.Ready,
            frames.MessageEvent,
            frames.TypingEvent,
            frames.DeltaEvent,
            frames.StatusEvent,
            frames.QueueEvent,
            frames.CsatEvent,
            frames.Pong,
            frames.ErrorFrame,
        ],
    ),
    (
        "inbox",
        "/api/v1/inbox/ws",
        "The agents' inbox, live; authenticated by the staff session cookie, same origin only. "
        "Close codes: 4401 not logged in, 4403 another origin.",
        [frames.Watch, frames.AgentTyping, frames.Ping],
        [
            frames.AgentReady,
            frames.InboxChange,
            frames.ConversationFrame,
            frames.Watching,
            frames.AgentTypingPresence,
            frames.UnreadMessage,
            frames.ReadMark,
            frames.Pong,
            frames.ErrorFrame,
        ],
    ),
]


def _asyncapi_discriminators(node: Any) -> Any:
    if isinstance(node, dict):
        found = {k: _asyncapi_discriminators(v) for k, v in node.items()}
        if isinstance(found.get("discriminator"), dict):
            found["discriminator"] = found["discriminator"]["propertyName"]
        return found
    if isinstance(node, list):
        return [_asyncapi_discriminators(v) for v in node]
    return node


def _message(model: type[BaseModel]) -> dict[str, Any]:
    [kind] = get_args(model.model_fields["type"].annotation)
    message: dict[str, Any] = {
        "name": kind,
        "title": model.__name__,
        "payload": {"$ref": SCHEMAS.format(model=model.__name__)},
    }
    if model.__doc__ and model.__doc__ != frames.Frame.__doc__:
        message["summary"] = " ".join(model.__doc__.split())
    return message


def document(version: str) -> dict[str, Any]:
    every = {m for _, _, _, received, sent in CHANNELS for m in (*received, *sent)}
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(every, key=lambda m: m.__name__)],
        ref_template=SCHEMAS,
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, address, description, received, sent in CHANNELS:
        channels[name] = {
            "address": address,
            "description": description,
            "messages": {
                m.__name__: {"$ref": f"#/components/messages/{m.__name__}"}
                for m in (*received, *sent)
            },
        }
        if "{conversation_id}" in address:
            channels[name]["parameters"] = {
                "conversation_id": {"description": "The id createConversation returned."}
            }
        for action, models in (("receive", received), ("send", sent)):
            operations[f"{action}{name.title()}Frames"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{name}"},
                "messages": [{"$ref": f"#/channels/{name}/messages/{m.__name__}"} for m in models],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "smartsupport WebSockets",
            "version": version,
            "description": "Frames are JSON objects with a `type`; the REST API is /openapi.json.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {m.__name__: _message(m) for m in sorted(every, key=lambda m: m.__name__)},
            "schemas": _asyncapi_discriminators(defs["$defs"]),
        },
    }
