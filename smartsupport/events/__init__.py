"""Pick the event publisher from ``SMARTSUPPORT_EVENTS_URL``. Nothing is imported or
connected until ``open_publisher``; an unset URL publishes nothing (and writes no outbox
rows for events).

    amqp://user:password@host:5672/vhost     RabbitMQ (needs smartsupport[events])
    amqps://...                              the same over TLS
"""

from __future__ import annotations

import importlib

from smartsupport.errors import ConfigurationError, missing_extra
from smartsupport.events.base import EventPublisher
from smartsupport.settings_operations import EVENTS_SCHEMES

__all__ = ["BACKENDS", "SCHEMES", "EventPublisher", "open_publisher"]

# scheme -> (module, class, the driver it needs, the extra that installs it)
BACKENDS: dict[str, tuple[str, str, str, str]] = {
    "amqp": ("smartsupport.events.amqp", "AmqpPublisher", "aio_pika", "events"),
    "amqps": ("smartsupport.events.amqp", "AmqpPublisher", "aio_pika", "events"),
}
SCHEMES = tuple(BACKENDS)
assert set(SCHEMES) == set(EVENTS_SCHEMES), "settings checks the schemes this table serves"


def open_publisher(url: str, exchange: str) -> EventPublisher:
    """An unconnected publisher for ``url``; call ``await publisher.start()``. Raises
    ConfigurationError for an unknown scheme or a missing driver."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    backend = BACKENDS.get(scheme)
    if backend is None:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise ConfigurationError(
            f"unknown events URL scheme {scheme!r}: known schemes are {known}; "
            "fix SMARTSUPPORT_EVENTS_URL (or leave it unset to publish no events)"
        )
    module_name, class_name, driver, extra = backend
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] in (driver, "aiormq", "pamqp"):
            raise missing_extra("aio-pika", extra, "Publishing events to RabbitMQ") from exc
        raise
    publisher: EventPublisher = getattr(module, class_name)(url, exchange)
    return publisher
