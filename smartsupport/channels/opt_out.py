"""STOP, START and HELP: the keywords by which a customer leaves, rejoins or asks about a
messaging channel. A keyword counts only as the whole message (``stop`` ends a
subscription; ``please stop the order`` is a question for the assistant).

SMS (Twilio) uses Twilio's default list, which US carriers expect and which Twilio itself
enforces on long codes (twilio.com/docs/messaging/tutorials/advanced-opt-out): STOP,
STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT out; START, UNSTOP, YES back in;
HELP, INFO. WhatsApp has no carrier rules, and "cancel", "end" or "yes" are ordinary answers
in a chat (the demo's order flows ask for them), so there only STOP, UNSUBSCRIBE, START and
HELP are keywords. A rejoin keyword is one only for an address that left: otherwise "yes"
is an answer to the assistant.
"""

from __future__ import annotations

import re
from typing import Literal

Keyword = Literal["stop", "start", "help"]

SMS_KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), "stop"
    ),
    **dict.fromkeys(("START", "UNSTOP", "YES"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}
CHAT_KEYWORDS: dict[str, Keyword] = {
    "STOP": "stop",
    "UNSUBSCRIBE": "stop",
    "START": "start",
    "HELP": "help",
}


def keyword(text: str, *, sms: bool, opted_out: bool) -> Keyword | None:
    """The keyword ``text`` is, or None for an ordinary message."""
    word = re.sub(r"[\s.!]+", "", text).upper()
    if not word or len(word) > 12:
        return None
    found = (SMS_KEYWORDS if sms else CHAT_KEYWORDS).get(word)
    if found == "start" and not opted_out:
        return None
    return found
