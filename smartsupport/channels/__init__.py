"""Channels: how customers reach the assistant. ``base.Channel`` is the contract; one module
per channel implements it; ``channel_for`` picks one by a conversation's ``channel`` name."""

from __future__ import annotations

from smartsupport.channels.api_channel import ApiChannel
from smartsupport.channels.base import Channel
from smartsupport.channels.email import EmailChannel
from smartsupport.channels.twilio import TwilioChannel, TwilioWhatsAppChannel
from smartsupport.channels.web import WebChannel
from smartsupport.channels.whatsapp import WhatsAppChannel
from smartsupport.errors import ConfigurationError

CHANNELS: dict[str, Channel] = {
    channel.name: channel
    for channel in (
        WebChannel(),
        EmailChannel(),
        WhatsAppChannel(),  # WhatsApp Cloud API (channels/whatsapp*.py)
        TwilioChannel(),  # "sms" through Twilio (channels/twilio*.py)
        TwilioWhatsAppChannel(),  # "twilio_whatsapp"
        ApiChannel(),  # the business's own apps, signed webhooks out (channels/api_*.py)
    )
}


def channel_for(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown channel {name!r}; known: {', '.join(sorted(CHANNELS))}"
        ) from None


__all__ = ["CHANNELS", "Channel", "EmailChannel", "WebChannel", "channel_for"]
