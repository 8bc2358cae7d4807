"""Thumbs on the assistant's answers outside the widget (issue 15; docs/channels.md "Thumbs on
answers"). What the channels need, without I/O:

    settings(workspace)       the workspace's ``answer_feedback:`` section: links under an
                              answer mail (on by default), reply buttons on WhatsApp (off), a
                              "reply 1 or 2" line on SMS and on WhatsApp through Twilio (off,
                              thumbs_reply.py), how many days a link works
    rateable(message)         a knowledge answer: the assistant's, citing help articles
    sign_link / read_link     the token of an email link: one message of one conversation,
                              its expiry and the page's language, HMAC-signed with the
                              deployment's secret key, so nobody can vote on another's answer
    mail_with_links(...)      an answer mail's text and HTML with "Was this answer helpful?
                              Yes / No" under them
    buttons / pressed         the two WhatsApp reply buttons of an answer, and a press back as
                              (message id, rating)

Recording a vote is the widget's code path (``feedback.rate_answer``), called by
``thumbs_inbound`` (the link's route, the WhatsApp press, a "1"/"2" reply on SMS or WhatsApp
through Twilio, the API channel's route) with the channel it came through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smartsupport import messages as catalog
from smartsupport import rich
from smartsupport.domain import Author, Conversation, Message
from smartsupport.errors import ConfigurationError
from smartsupport.nlu.language import detect_language
from smartsupport.workspaces import WorkspaceConfig

SECTION = "answer_feedback"
_TOKEN = "thumb1"  # a domain separator: a visitor token's signature never verifies here
VOTES = {"up": 1, "down": -1}
BUTTON = "thumb:"  # a reply button's id: thumb:up:<message id>
MAX_BUTTON_BODY = 1024  # Meta's interactive body limit


class AnswerFeedback(BaseModel):
    """``answer_feedback:`` in workspace.yaml."""

    model_config = ConfigDict(extra="forbid")
    # Two quiet links under an answer mail ask nothing of a customer who ignores them.
    email: bool = True
    # Two buttons under every answer turn a chat into a survey: a workspace opts in.
    whatsapp: bool = False
    # A line under every answer: on SMS each character costs (the line is GSM-7, no emoji,
    # so the answer's encoding does not change), on WhatsApp it lengthens every answer.
    sms: bool = False
    twilio_whatsapp: bool = False
    link_days: int = Field(default=30, ge=1, le=365)


def settings(workspace: WorkspaceConfig) -> AnswerFeedback:
    """The section, defaults where it says nothing; ConfigurationError names a wrong value."""
    written = (workspace.model_extra or {}).get(SECTION)
    if written is not None and not isinstance(written, dict):
        # ``section`` would read a stray ``answer_feedback: false`` as "the defaults".
        raise ConfigurationError(
            f"workspace {workspace.id} {SECTION}: write a mapping (email, whatsapp, sms, "
            "twilio_whatsapp, link_days)"
        )
    return workspace.checked(SECTION, AnswerFeedback)


def rateable(message: Message) -> bool:
    """An answer from the help articles (it cites them): the answers thumbs are for, as in
    the widget's analytics of article helpfulness. Flows, greetings and handoffs are not."""
    return (
        message.author is Author.BOT
        and bool(message.text.strip())
        and bool(message.meta.get("citations"))
    )


def button_ready(message: Message) -> bool:
    """Two reply buttons fit: no options of its own (WhatsApp allows one set of at most
    three buttons), no cards, a body within Meta's interactive limit."""
    return (
        rateable(message)
        and not message.meta.get("quick_replies")
        and not rich.blocks(message.meta)
        and len(message.text.strip()) <= MAX_BUTTON_BODY
    )


def answer_language(conversation: Conversation, answer: Message) -> str:
    """The language to ask in: the answer's own (the customer just read it in that one;
    the turn's language is not on the stored reply), else the conversation's; ``""`` when
    nothing says (the workspace's default then)."""
    said = catalog.normalise(detect_language(answer.text, default="").language)
    metadata = conversation.metadata
    return said or catalog.normalise(metadata.get("language") or metadata.get("locale") or "")


# -- email links -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Link:
    conversation_id: str
    message_id: str
    expires: int
    language: str


def _signature(key: bytes, body: str) -> str:
    digest = hmac.new(key, f"{_TOKEN}.{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def sign_link(key: bytes, link: Link) -> str:
    # The language is a token field: only a bare code, so a dot never shifts the fields.
    language = link.language if re.fullmatch(r"[a-z]{2,3}", link.language) else ""
    body = f"{link.conversation_id}.{link.message_id}.{link.expires}.{language}"
    return f"{body}.{_signature(key, body)}"


def read_link(key: bytes, token: str, *, now: float | None = None) -> tuple[Link | None, str]:
    """(the link, "") for a genuine token still valid, else (None, why): ``malformed``,
    ``forged`` or ``expired``. The language of a well-formed token is readable either way
    (``language_of``), so the refusal page speaks it."""
    parts = token.split(".")
    if len(parts) != 5 or not parts[2].isdigit() or len(parts[2]) > 12:
        return None, "malformed"
    body, signature = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(signature, _signature(key, body)):
        return None, "forged"
    link = Link(parts[0], parts[1], int(parts[2]), parts[3])
    if (time.time() if now is None else now) > link.expires:
        return None, "expired"
    return link, ""


def language_of(token: str) -> str | None:
    parts = token.split(".")
    return catalog.normalise(parts[3]) if len(parts) == 5 else None


def vote_urls(public_url: str, token: str) -> dict[str, str]:
    base = f"{public_url.rstrip('/')}/api/v1/feedback/{token}"
    return {vote: f"{base}/{vote}" for vote in VOTES}


def mail_with_links(
    payload: Mapping[str, Any], workspace: WorkspaceConfig, urls: Mapping[str, str], language: str
) -> dict[str, str]:
    """The mail's ``text`` and ``html`` with the question and its two links under the
    answer (before the closing body tag: the rest of the HTML stays as rendered)."""
    question, yes, no = (
        catalog.text(workspace, f"feedback.{key}", language) for key in ("question", "yes", "no")
    )
    # No "-- " line before it: mail clients hide what follows one as a signature.
    votes = f"{question}\n{yes}: {urls['up']}\n{no}: {urls['down']}"
    text = f"{payload['text'].rstrip()}\n\n{votes}\n"
    block = (
        '<p style="margin-top:24px;color:#555;font-size:13px">'
        f'{html.escape(question)} <a href="{html.escape(urls["up"])}">{html.escape(yes)}</a>'
        f' · <a href="{html.escape(urls["down"])}">{html.escape(no)}</a></p>'
    )
    page = str(payload["html"])
    at = page.rfind("</body>")
    page = page[:at] + block + page[at:] if at >= 0 else page + block
    return {"text": text, "html": page}


# -- WhatsApp reply buttons --------------------------------------------------------------------
def buttons(
    text: str, message_id: str, workspace: WorkspaceConfig, language: str
) -> dict[str, Any]:
    """The Cloud API body of an answer with "Helpful" / "Not helpful" reply buttons (the
    widget's labels, at most 20 characters in every shipped language)."""
    titles = {
        "up": catalog.text(workspace, "feedback.helpful", language)[:20],
        "down": catalog.text(workspace, "feedback.unhelpful", language)[:20],
    }
    action = {
        "buttons": [
            {"type": "reply", "reply": {"id": f"{BUTTON}{vote}:{message_id}", "title": title}}
            for vote, title in titles.items()
        ]
    }
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": text}, "action": action},
    }


def pressed(message: Mapping[str, Any]) -> tuple[str, int] | None:
    """(the rated message's id, +1 or -1) when a Cloud API message is a press of one of
    those buttons, else None (any other message is the customer's turn)."""
    if message.get("type") != "interactive":
        return None
    body = message.get("interactive")
    reply = body.get("button_reply") if isinstance(body, dict) else None
    chosen = str(reply.get("id") or "") if isinstance(reply, dict) else ""
    vote, _, message_id = chosen.removeprefix(BUTTON).partition(":")
    if not chosen.startswith(BUTTON) or vote not in VOTES or not message_id:
        return None
    return message_id, VOTES[vote]
