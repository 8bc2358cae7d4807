"""The client's address: the peer's, or what a trusted proxy says in ``X-Forwarded-For``.

Rate limits, sign-in backoff and session records key on the client address. Taking it from
``X-Forwarded-For`` whatever the peer lets any client choose its own address (a fresh one
per attempt defeats every per-address limit), so the header is honoured only when the peer
is one of ``SMARTSUPPORT_TRUSTED_PROXIES``. The header is read right to left, skipping
trusted hops: the first untrusted address is the client, and anything further left was
written by the client itself. uvicorn's own proxy handling is switched off (cli.py) so this
is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from smartsupport.limits import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client behind ``peer``: ``peer`` itself unless it is a trusted proxy."""
    if not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a proxy passed on garbage: keep the address we know
    return hops[0] if hops else peer


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class ProxyHeaders:
    """Rewrites ``scope["client"]`` for requests and sockets that came through a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted and scope.get("client"):
            peer, port = scope["client"]
            forwarded = _header(scope, b"x-forwarded-for")
            client = client_address(peer, forwarded, self.trusted)
            if client != peer:
                scope = {**scope, "client": (client, port)}
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    values: list[Any] = [v for k, v in scope.get("headers", ()) if k == name]
    return b",".join(values).decode("latin-1") if values else None
