"""Channels: how customers reach the assistant. ``base.Channel`` is the contract; one module
per channel implements it; ``channel_for`` picks one by a conversation's ``channel`` name."""

from __future__ import annotations

from smartsupport.channels.base import Channel
from smartsupport.channels.email import EmailChannel
from smartsupport.channels.web import WebChannel
from smartsupport.errors import ConfigurationError

CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (WebChannel(), EmailChannel())}


def channel_for(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown channel {name!r}; known: {', '.join(sorted(CHANNELS))}"
        ) from None


__all__ = ["CHANNELS", "Channel", "EmailChannel", "WebChannel", "channel_for"]
