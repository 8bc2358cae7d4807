"""The outbox's side of events: the handler of ``event.publish`` rows and what ``/readyz``
says about them.

    writer's transaction ──> outbox row (kind event.publish, payload = the event)
    worker: outbox.run_due ──> EventDelivery(entry) ──> publisher.publish ──> confirmed: done
                                     │ broker down, nothing bound, no confirm
                                     └──> DeliveryError(retryable): the row waits, retried
                                          with the outbox's backoff; nothing is dropped

Built by the wiring with the publisher of ``SMARTSUPPORT_EVENTS_URL``, or with none: then
rows left from an earlier configuration wait (and say why) instead of being lost.
"""

from __future__ import annotations

from typing import Any

from smartsupport.errors import DeliveryError
from smartsupport.events.base import EventPublisher
from smartsupport.events.schema import KIND
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor


class EventDelivery:
    """The outbox handler for ``event.publish`` (``services.outbox_handlers[KIND]``)."""

    def __init__(self, publisher: EventPublisher | None) -> None:
        self.publisher = publisher

    async def __call__(self, services: Services, entry: Any) -> dict[str, Any]:
        if self.publisher is None:
            raise DeliveryError(
                "SMARTSUPPORT_EVENTS_URL is unset: set it to publish the events waiting in "
                "the outbox",
                retryable=True,
            )
        await self.publisher.publish(entry.payload)
        return {"event_id": entry.payload["id"]}

    async def readiness(self, db: SqlExecutor) -> str:
        """``ok``, or why events are waiting and how many (for ``/readyz``)."""
        if self.publisher is None:
            return "off"
        problem = await self.publisher.check()
        if problem is None:
            return "ok"
        row = await db.fetchrow(
            "SELECT COUNT(*) AS n FROM outbox WHERE kind = ? AND status = 'pending'", KIND
        )
        waiting = row["n"] if row else 0
        return (
            f"unavailable: {self.publisher.target}: {problem}; {waiting} event(s) wait in the "
            "outbox and are sent once it answers"
        )

    async def close(self) -> None:
        if self.publisher is not None:
            await self.publisher.close()
