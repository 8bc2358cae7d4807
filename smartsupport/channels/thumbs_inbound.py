"""Thumbs given outside the widget, recorded through the widget's code path
(``feedback.rate_answer``) with the channel they came through (docs/channels.md "Thumbs on
answers"):

    GET /api/v1/feedback/{token}/{up|down}   a link under an answer mail: the signed token
                                              names one answer of one conversation; the
                                              vote is recorded and a small page thanks the
                                              customer in their language
    record_press(...)                         a WhatsApp reply-button press ("Helpful" /
                                              "Not helpful"): a rating, not a customer turn
    record_reply(...)                         an exact "1" / "2" (👍 / 👎) on SMS or WhatsApp
                                              through Twilio right after an answer that
                                              offered it (thumbs_reply.py): a rating, not a
                                              turn; any other message is the customer's turn

The link needs no session and no CSRF token: all it can do is record the vote its signature
names, for the answer it names, and opening it again changes nothing (the same rating is not
written twice). A forged token gets 403, an expired one 410, both as a page that says so.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from smartsupport import messages as catalog
from smartsupport.channels import contacts, thumbs, thumbs_reply
from smartsupport.domain import Conversation
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.feedback import rate_answer, ratings_of
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor

log = logging.getLogger(__name__)
RECENT = 12  # messages read to find the offer a reply answers (only ours may follow it)
router = APIRouter(prefix="/api/v1/feedback", tags=["channels"])
# The token is in the URL: keep it out of caches, referrers and search indexes.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


async def record(
    services: Services,
    conversation: Conversation,
    message_id: str,
    rating: int,
    channel: str,
    reason: str | None = None,
) -> bool:
    """The customer's rating of one answer; False when it was already so (a link opened
    twice, a press Meta delivered twice, a client's retry): nothing written, no second
    event."""
    said = (reason or "").strip() or None
    for earlier in await ratings_of(services, conversation.id):
        if earlier.message_id == message_id and earlier.source == "customer":
            if earlier.rating == rating and earlier.reason == said:
                return False
    await rate_answer(services, conversation, message_id, rating, reason, channel=channel)
    return True


def _page(status: int, language: str, workspace: catalog.HasTexts | None, key: str) -> HTMLResponse:
    words = html.escape(catalog.text(workspace, key, language))
    direction = "rtl" if language == "ar" else "ltr"
    body = (
        f'<!DOCTYPE html><html lang="{html.escape(language)}" dir="{direction}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{words}</title></head>"
        '<body style="font-family:sans-serif;max-width:32em;margin:4em auto;padding:0 1em">'
        f"<p>{words}</p></body></html>"
    )
    return HTMLResponse(body, status, headers=PAGE_HEADERS)


# Not in the API description: a page a customer's mail client opens, not an API operation.
@router.get("/{token}/{vote}", include_in_schema=False)
async def vote_by_link(token: str, vote: Literal["up", "down"], request: Request) -> HTMLResponse:
    """Record the vote of a link under an answer mail and thank the customer."""
    services: Services = request.app.state.services
    link, why = thumbs.read_link(services.secret_key, token)
    language = (link.language if link else thumbs.language_of(token)) or "en"
    if link is None:
        log.warning("feedback link refused: %s", why)
        return _page(403 if why != "expired" else 410, language, None, "feedback.link_invalid")
    conversation = await services.store.get_conversation(link.conversation_id)
    if conversation is None or conversation.workspace_id not in services.workspaces:
        # erased or purged since the mail left: nothing to rate any more
        return _page(410, language, None, "feedback.link_invalid")
    workspace = services.workspace(conversation.workspace_id)
    try:
        await record(services, conversation, link.message_id, thumbs.VOTES[vote], "email")
    except (NotFound, InvalidInput) as exc:
        log.warning("feedback link for %s refused: %s", conversation.id, exc)
        return _page(410, language, workspace, "feedback.link_invalid")
    return _page(200, language, workspace, "feedback.thanks")


async def record_press(
    services: Services,
    workspace_id: str,
    channel: str,
    address: str,
    pressed: tuple[str, int],
    sent_at: datetime | None = None,
) -> bool:
    """A thumbs button pressed by ``address``: rated only if the answer is in that
    address's own conversation (rate_answer refuses another's); logged and dropped
    otherwise, never a customer turn. True when a rating was written."""
    message_id, rating = pressed
    db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
    contact = await contacts.find(db, workspace_id, channel, address)
    conversation = (
        await services.store.get_conversation(contact.conversation_id) if contact else None
    )
    if conversation is None:
        log.warning("%s thumbs press from an address with no conversation dropped", channel)
        return False
    # A press is the customer writing, for WhatsApp's 24-hour window too.
    await contacts.touch_inbound(db, workspace_id, channel, address, sent_at)
    try:
        return await record(services, conversation, message_id, rating, channel)
    except (NotFound, InvalidInput) as exc:
        log.warning("%s thumbs press in %s dropped: %s", channel, conversation.id, exc)
        return False


async def record_reply(
    services: Services,
    workspace_id: str,
    channel: str,
    address: str,
    text: str,
) -> bool:
    """True when ``text`` from ``address`` is the rating of the answer just before it that
    offered "Reply 1 or 2" (recorded, or the same again: nothing to answer either way);
    False for every other message, which the caller runs as the customer's turn."""
    rating = thumbs_reply.vote(text)
    if rating is None:
        return False
    db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
    contact = await contacts.find(db, workspace_id, channel, address)
    conversation = (
        await services.store.get_conversation(contact.conversation_id) if contact else None
    )
    if conversation is None:
        return False  # a first message "1": nothing was offered to this number
    after = max(0, conversation.last_seq - RECENT)
    history = await services.store.list_messages(conversation.id, after=after)
    message_id = thumbs_reply.offered(history, channel)
    if message_id is None:
        return False
    # A reply is the customer writing, for WhatsApp's 24-hour window too.
    await contacts.touch_inbound(db, workspace_id, channel, address)
    try:
        await record(services, conversation, message_id, rating, channel)
    except (NotFound, InvalidInput) as exc:  # erased meanwhile: still no turn for a "1"
        log.warning("%s thumbs reply in %s dropped: %s", channel, conversation.id, exc)
    return True
