"""The email channel on the channel contract (``base.Channel``).

    parse(conversation_id, payload)   a parsed inbound mail ({"mail": ParsedMail}) -> the
                                      customer's message (client_id: its Message-ID, so a
                                      mail read twice is one message)
    render(message)                   the text and HTML a reply mail shows
    deliveries(conversation, msgs)    ONE ``email.send`` outbox item per turn with every
                                      reply, threaded on the customer's last mail: written in
                                      the turn's transaction, so an SMTP outage delays a
                                      reply and never loses it
    deliver(services, entry)          compose and send it (email_sender), with "Was this
                                      answer helpful? Yes / No" links under a knowledge answer
                                      (thumbs.py), then remember its Message-ID so the
                                      customer's answer finds the thread

Everything ``deliveries`` needs is in the conversation's ``email`` metadata, which the inbound
side (email_inbound.py) sets before the turn: the customer's address, the subject, the thread's
Message-IDs and our mail domain.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from smartsupport import attachment_records
from smartsupport import messages as catalog
from smartsupport.channels import email_state, thumbs
from smartsupport.channels.base import Channel
from smartsupport.channels.email_config import account_for
from smartsupport.channels.email_parsing import ParsedMail
from smartsupport.channels.email_sender import compose, render_html, render_text, send
from smartsupport.domain import Author, Conversation, IncomingMessage, Message, OutboxItem
from smartsupport.errors import ConfigurationError, DeliveryError, InvalidInput
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor

SEND_KIND = "email.send"
MAX_REFERENCES = 20  # RFC 5322 allows trimming; the first and the nearest are what count


def reply_subject(subject: str) -> str:
    subject = subject.strip() or "Your message"
    return subject if subject.lower().startswith(("re:", "aw:", "sv:")) else f"Re: {subject}"


def thread_references(thread: list[str]) -> list[str]:
    if len(thread) <= MAX_REFERENCES:
        return thread
    return [thread[0], *thread[-(MAX_REFERENCES - 1) :]]


def _files(message: Message) -> list[dict[str, Any]]:
    """The stored files a reply lists (an agent's attachments)."""
    return [
        a
        for a in message.meta.get("attachments") or []
        if isinstance(a, dict) and a.get("stored") and isinstance(a.get("id"), str)
    ]


def _part(message: Message) -> dict[str, Any]:
    """What a reply mail shows of a message: its text, rich blocks (as HTML and as text:
    rich.email_html / email_text), suggested answers, and the names of attached files."""
    return {
        "text": message.text,
        "quick_replies": message.meta.get("quick_replies", []),
        "rich": message.meta.get("rich") or [],
        "files": [a["filename"] for a in _files(message)],
    }


async def _attached(services: Services, ids: list[str]) -> list[tuple[str, str, bytes]]:
    """The files to attach, read from the attachment store (one erased since the reply was
    queued is left out: it must not leave after an erasure)."""
    files = []
    for attachment_id in ids:
        found = await attachment_records.find(services, attachment_id)
        if found is not None:
            files.append(
                (found.filename, found.content_type, await attachment_records.read(services, found))
            )
    return files


class EmailChannel(Channel):
    name = "email"

    def parse(self, conversation_id: str, payload: Mapping[str, Any]) -> list[IncomingMessage]:
        mail = payload.get("mail")
        if not isinstance(mail, ParsedMail):
            raise InvalidInput("the email channel parses a ParsedMail")
        text = mail.text or mail.subject
        if not text and mail.attachments:
            names = ", ".join(a.filename for a in mail.attachments)
            text = f"(attachments: {names})"
        return [
            IncomingMessage(
                conversation_id=conversation_id,
                text=text,
                # the mail's Message-ID, or its keyed hash (email_state.client_id)
                client_id=str(payload.get("client_id") or f"email:{mail.message_id}"),
                channel=self.name,
            )
        ]

    def render(self, message: Message) -> dict[str, Any]:
        parts = [_part(message)]
        return {"text": render_text(parts), "html": render_html(parts)}

    def deliveries(
        self, conversation: Conversation, messages: Sequence[Message]
    ) -> list[OutboxItem]:
        thread = conversation.metadata.get("email")
        sent = [m for m in messages if m.author in (Author.BOT, Author.AGENT) and m.text.strip()]
        if not thread or not sent:
            return []
        parts = [_part(m) for m in sent]
        first = sent[0]
        return [
            OutboxItem(
                kind=SEND_KIND,
                idempotency_key=f"{SEND_KIND}:{first.id}",
                payload={
                    "conversation_id": conversation.id,
                    "message_ids": [m.id for m in sent],
                    "to": thread["address"],
                    "to_name": thread.get("name") or "",
                    "subject": reply_subject(thread.get("subject", "")),
                    "message_id": f"<{first.id}@{thread['domain']}>",
                    "in_reply_to": thread.get("last"),
                    "references": thread_references(thread.get("thread", [])),
                    "automatic": all(m.author is Author.BOT for m in sent),
                    "text": render_text(parts),
                    "html": render_html(parts),
                    "attachments": [a["id"] for m in sent for a in _files(m)],
                    **_rateable(conversation, sent),
                },
            )
        ]

    async def deliver(self, services: Services, entry: Any) -> dict[str, Any]:
        payload = entry.payload
        try:
            account = account_for(
                services.settings, services.workspaces.values(), entry.workspace_id
            )
        except ConfigurationError as exc:  # the mailbox was removed since the reply was queued
            raise DeliveryError(str(exc), retryable=True) from exc
        files = await _attached(services, payload.get("attachments") or [])
        payload = {**payload, **_with_links(services, entry.workspace_id, payload)}
        await send(account.smtp, compose(payload, account.from_header, files))
        db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
        await email_state.remember(
            db, entry.workspace_id, payload["message_id"], payload["conversation_id"], "out"
        )
        return {"message_id": payload["message_id"], "to": payload["to"]}


def _rateable(conversation: Conversation, sent: Sequence[Message]) -> dict[str, Any]:
    """The answer the mail's thumbs rate (the last knowledge answer in it) and the language
    to ask in."""
    rated = [m for m in sent if thumbs.rateable(m)]
    if not rated:
        return {}
    language = thumbs.answer_language(conversation, rated[-1])
    return {"feedback": {"message_id": rated[-1].id, "language": language}}


def _with_links(
    services: Services, workspace_id: str, payload: Mapping[str, Any]
) -> dict[str, str]:
    """The text and HTML with the thumbs' links, signed now (a link works ``link_days``
    from the mail's sending), when the workspace wants them and a public URL can carry
    them; else nothing changes."""
    rated = payload.get("feedback")
    public_url = services.settings.public_url
    if not isinstance(rated, dict) or not public_url:
        return {}
    workspace = services.workspace(workspace_id)
    wanted = thumbs.settings(workspace)
    if not wanted.email:
        return {}
    language = catalog.normalise(rated.get("language") or "") or catalog.normalise(
        workspace.default_locale
    )
    link = thumbs.Link(
        payload["conversation_id"],
        rated["message_id"],
        int(time.time()) + wanted.link_days * 86_400,
        language,
    )
    urls = thumbs.vote_urls(public_url, thumbs.sign_link(services.secret_key, link))
    return thumbs.mail_with_links(payload, workspace, urls, language)
