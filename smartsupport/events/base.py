"""The event publisher contract: what the outbox hands each data-team event to.

One abstract class, one module per broker (``amqp.py`` today; Kafka or NATS can follow),
chosen by the scheme of ``SMARTSUPPORT_EVENTS_URL`` in ``events/__init__.py``. A publisher
never holds events itself: every event is an outbox row first (``events/schema.py`` builds
it in the writer's transaction), and the outbox calls ``publish`` until the broker has
confirmed it. So a publisher may fail at any moment without losing anything; it only has
to say, through the error it raises, whether trying again may help.
"""

from __future__ import annotations

import abc
from typing import Any


class EventPublisher(abc.ABC):
    """Publishes one event envelope (``events/schema.py``) to a broker."""

    #: What the broker is, for logs and ``/readyz`` (no password).
    target: str = ""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect once at start-up. A setting the broker refuses (credentials, virtual
        host, an exchange of another type) raises ``ConfigurationError`` naming the fix; a
        broker that cannot be reached is NOT an error here: events wait in the outbox and
        ``problem`` says why."""

    @abc.abstractmethod
    async def publish(self, event: dict[str, Any]) -> None:
        """Publish ``event`` and return only once the broker has taken responsibility for
        it (a publisher confirm, or the broker's equivalent). Any failure raises
        ``DeliveryError``: ``retryable`` when the same event may go through later (the
        broker is down, nothing is bound to receive it yet), so the outbox keeps it."""

    @abc.abstractmethod
    async def check(self) -> str | None:
        """None when the broker is reachable now, else why not (may try to reconnect,
        briefly; never raises)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection; events not yet confirmed stay in the outbox."""
