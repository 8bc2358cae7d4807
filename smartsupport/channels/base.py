"""The contract every channel implements: how customers write to us and how replies reach
them. The web widget and REST API are the first channel (``web.py``); email, WhatsApp and
SMS follow on the same contract.

    parse(conversation_id, payload)   an inbound payload -> the IncomingMessages it holds
                                      (one webhook may carry several)
    render(message)                   a stored message as this channel shows it
    deliveries(conversation, msgs)    replies that must be sent out, as outbox work: the
                                      conversation path writes them in the turn's one
                                      transaction, so a reply is retried, never dropped
    deliver(services, entry)          the outbox handler that sends one of them

Channels that need no sending (the web widget reads the live fan-out and the history)
return no deliveries. The routes that receive payloads live beside each channel's module
(``web_api.py``, ``web_socket.py``), above the conversation path; this contract sits below it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from smartsupport.domain import Conversation, IncomingMessage, Message, OutboxItem
from smartsupport.errors import DeliveryError
from smartsupport.services import Services


class Channel(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def parse(self, conversation_id: str, payload: Mapping[str, Any]) -> list[IncomingMessage]:
        """The customer messages in an inbound payload (already authenticated)."""

    @abc.abstractmethod
    def render(self, message: Message) -> dict[str, Any]:
        """A stored message as this channel sends or shows it."""

    def deliveries(
        self, conversation: Conversation, messages: Sequence[Message]
    ) -> list[OutboxItem]:
        """Outbox work that sends ``messages`` to the customer (none by default)."""
        return []

    async def deliver(self, services: Services, entry: Any) -> dict[str, Any]:
        """Send one outbox entry made by ``deliveries``."""
        raise DeliveryError(f"the {self.name} channel sends nothing", retryable=False)
