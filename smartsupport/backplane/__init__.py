"""Pick a backplane from its URL. Nothing is imported or connected until ``open_backplane``.

""  or memory://            MemoryBackplane, state inside this process
redis://host:6379/0         RedisBackplane, shared by every process using the same Redis
rediss://...                the same over TLS
...?prefix=name:            namespace for every Redis key and channel (default smartsupport:)
"""

from __future__ import annotations

from smartsupport.backplane.base import Backplane, Subscription
from smartsupport.errors import ConfigurationError, missing_extra

__all__ = ["Backplane", "Subscription", "open_backplane", "SCHEMES"]

SCHEMES = ("memory", "redis", "rediss")


def open_backplane(url: str, *, command_timeout: float | None = None) -> Backplane:
    """Build (not connect) the backplane for ``url``; call ``await backplane.connect()``.
    ``command_timeout``: seconds one Redis command may take (SMARTSUPPORT_REDIS_TIMEOUT_SECONDS)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.lower()
    if scheme in ("", "memory"):
        from smartsupport.backplane.memory import MemoryBackplane

        return MemoryBackplane(url or "memory://")
    if scheme in ("redis", "rediss"):
        try:
            import redis.asyncio  # noqa: F401 - only checks that the extra is installed
        except ImportError:
            raise missing_extra("redis", "redis", "Redis backplane") from None
        from smartsupport.backplane.redis import RedisBackplane

        return RedisBackplane(url, command_timeout=command_timeout)
    raise ConfigurationError(
        f"unknown backplane URL {url!r}: known schemes are "
        + ", ".join(f"{s}://" for s in SCHEMES)
        + " (or leave SMARTSUPPORT_REDIS_URL empty to keep state in this process)"
    )
