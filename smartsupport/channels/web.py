"""The web channel: the widget and the REST API.

Inbound, a REST body or a WebSocket ``message`` frame becomes one IncomingMessage. Outbound
there is nothing to send: the widget receives every stored message from the live fan-out
(``fanout.publish``) and reads what it missed from the history, so ``deliveries`` stays
empty. ``render`` is the customer-facing JSON of a message (``wire.message_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartsupport.channels.base import Channel
from smartsupport.domain import IncomingMessage, Message
from smartsupport.errors import InvalidInput
from smartsupport.wire import message_json


class WebChannel(Channel):
    name = "web"

    def parse(self, conversation_id: str, payload: Mapping[str, Any]) -> list[IncomingMessage]:
        text = payload.get("text")
        client_id = payload.get("client_id")
        if not isinstance(text, str):
            raise InvalidInput("a message needs text")
        if client_id is not None and not isinstance(client_id, str):
            raise InvalidInput("client_id must be a string")
        return [
            IncomingMessage(
                conversation_id=conversation_id, text=text, client_id=client_id, channel=self.name
            )
        ]

    def render(self, message: Message) -> dict[str, Any]:
        return message_json(message)
