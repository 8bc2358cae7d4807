"""Thumbs by reply on SMS and on WhatsApp through Twilio (docs/channels.md "Thumbs on
answers"): those channels have no buttons to press for free, so a knowledge answer may end
with one line, "Did this answer help? Reply 1 for yes, 2 for no.", and the customer's exact
reply "1" or "2" right after it is the rating, not a turn. Without I/O:

    offerable(message)           a knowledge answer whose line cannot be mistaken: no numbered
                                 options of its own ("1" would answer those), no cards
    line(channel, workspace, l)  the line in the answer's language: digits on SMS (GSM-7:
                                 an emoji would turn the whole SMS into UCS-2, 70 characters
                                 a segment instead of 160), 👍 / 👎 on WhatsApp
    vote(text)                   +1 / -1 for an exact rating reply ("1", "2", "👍", "👎", with
                                 a trailing dot, full-width or Arabic-Indic digits), else None
    offered(history, channel)    the answer a reply may rate: the latest message carrying the
                                 offer (``OFFER`` in its meta, set once the line was sent),
                                 with nothing after it but the assistant's own messages
                                 without options; else None, and the reply is a normal turn

A message is only ever a vote when all three hold: the assistant's last word offered the
choice, the reply is exactly one of the rating words, and no one (customer, agent, a CSAT
question) has spoken since. "2 boxes", "1?" or a "1" after an agent's question run a turn.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from smartsupport import messages as catalog
from smartsupport import rich
from smartsupport.channels import thumbs
from smartsupport.domain import Author, Message
from smartsupport.workspaces import WorkspaceConfig

OFFER = "thumbs_offer"  # message meta: {"channel": ..., "language": ...} once the line went
KEYS = {"sms": "feedback.reply_digits", "twilio_whatsapp": "feedback.reply_emoji"}
UP, DOWN = "\N{THUMBS UP SIGN}", "\N{THUMBS DOWN SIGN}"
# An emoji may carry the presentation selector and a skin tone: 👍🏽 is still 👍.
_DECORATION = {"\ufe0f", *(chr(c) for c in range(0x1F3FB, 0x1F400))}


def enabled(channel: str, workspace: WorkspaceConfig) -> bool:
    """The workspace asks for the line on this channel (``answer_feedback.sms`` /
    ``twilio_whatsapp``); ConfigurationError names a wrong value."""
    return channel in KEYS and bool(getattr(thumbs.settings(workspace), channel))


def offerable(message: Message) -> bool:
    # rich.numbered's choices are the quick replies and postbacks a number would answer.
    return thumbs.rateable(message) and not rich.numbered(message.text, message.meta).choices


def line(channel: str, workspace: WorkspaceConfig, language: str) -> str:
    return catalog.text(workspace, KEYS[channel], language)


def vote(text: str) -> int | None:
    word = "".join(c for c in text.strip() if c not in _DECORATION).rstrip(".")
    if word in (UP, DOWN):
        return 1 if word == UP else -1
    if len(word) == 1 and word.isdecimal():  # "1", "１" (full-width), "١" (Arabic-Indic)
        return {1: 1, 2: -1}.get(unicodedata.decimal(word))
    return None


def offered(history: Sequence[Message], channel: str) -> str | None:
    for message in reversed(history):
        if message.author is not Author.BOT:
            return None  # the customer, an agent or a system question (CSAT) spoke since
        offer = message.meta.get(OFFER)
        if isinstance(offer, dict) and offer.get("channel") == channel:
            return message.id
        if rich.numbered(message.text, message.meta).choices:
            return None  # a later message's options: "1" answers those
    return None
