"""One inbound mail through the conversation path.

    receive_mail(services, account, raw)
      parse         email_parsing.parse_mail: thread ids, sender, the new text, attachments
      screen        auto-replies, bulk and list mail, bounces, our own mails: logged as an
                    ``email.ignored`` event, never answered
      file          the conversation: the one this Message-ID was already filed in (a mail
                    read again), else the thread's (In-Reply-To, References), else a new one
      thread        the conversation's ``email`` metadata: whom to answer, subject, thread ids
      turn          conversation.handle_message with client_id = the Message-ID: a mail read
                    twice is stored and answered once; the replies leave through the outbox
      attachments   kept in the attachment store (size-limited), listed on the customer's
                    message (attachment_records.keep)

Every step is safe to repeat, so the poller may hand the same mail again after a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from smartsupport import attachment_records
from smartsupport.channels import email_state
from smartsupport.channels.email import EmailChannel
from smartsupport.channels.email_config import EmailAccount
from smartsupport.channels.email_parsing import Attachment, ParsedMail, ignore_reason, parse_mail
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import TurnResult
from smartsupport.errors import InvalidInput, TooLarge
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor

log = logging.getLogger(__name__)
CHANNEL = EmailChannel()


@dataclass(slots=True)
class Received:
    message_id: str
    ignored: str | None = None  # why it was not answered
    conversation_id: str | None = None
    result: TurnResult | None = None


def _db(services: Services) -> SqlExecutor:
    return services.store  # type: ignore[return-value]  # every store backend is SQL


async def receive_mail(services: Services, account: EmailAccount, raw: bytes) -> Received:
    mail = parse_mail(raw)
    reason = ignore_reason(mail, {account.address})
    if reason is not None:
        await services.store.add_event(
            account.workspace_id,
            "email.ignored",
            {"message_id": mail.message_id, "from": mail.sender, "reason": reason},
        )
        log.info("email %s from %s ignored: %s", mail.message_id, mail.sender, reason)
        return Received(mail.message_id, ignored=reason)
    # A long mail (a pasted log, a forwarded chain) is answered on its beginning.
    mail.text = mail.text[: services.settings.max_message_chars]
    conversation_id = await file_mail(services, account, mail)
    await _thread(services, account, conversation_id, mail)
    client_id = email_state.client_id(_db(services), mail.message_id)
    (incoming,) = CHANNEL.parse(conversation_id, {"mail": mail, "client_id": client_id})
    result = await handle_message(services, incoming)
    if mail.attachments and not (result.duplicate and result.message.meta.get("attachments")):
        kept = [await _store_attachment(services, result, mail, a) for a in mail.attachments]
        await services.store.update_message_meta(result.message.id, {"attachments": kept})
    return Received(mail.message_id, conversation_id=conversation_id, result=result)


async def file_mail(services: Services, account: EmailAccount, mail: ParsedMail) -> str:
    """The conversation this mail belongs to (one per thread), filed under its Message-ID."""
    db, workspace = _db(services), account.workspace_id
    known = await email_state.seen(db, workspace, mail.message_id)
    if known is not None:
        return known
    conversation_id = await email_state.thread_conversation(db, workspace, mail.thread_ids)
    if conversation_id is None:
        conversation, _ = await start_conversation(
            services,
            workspace,
            channel=CHANNEL.name,
            customer={
                "external_id": f"email:{mail.sender}",
                "email": mail.sender,
                "name": mail.sender_name or None,
            },
        )
        conversation_id = conversation.id
    await email_state.remember(db, workspace, mail.message_id, conversation_id, "in")
    return conversation_id


async def _thread(
    services: Services, account: EmailAccount, conversation_id: str, mail: ParsedMail
) -> None:
    """Whom the replies go to and what they thread on: the customer's latest mail."""
    conversation = await services.store.get_conversation(conversation_id)
    before: dict[str, Any] = (conversation.metadata.get("email") if conversation else None) or {}
    thread = [m for m in mail.references if m != mail.message_id] + [mail.message_id]
    await services.store.update_conversation_metadata(
        conversation_id,
        {
            "email": {
                "address": mail.sender,
                "name": mail.sender_name,
                "subject": before.get("subject") or mail.subject,
                "domain": account.domain,
                "last": mail.message_id,
                "thread": thread,
            }
        },
    )


async def _store_attachment(
    services: Services, result: TurnResult, mail: ParsedMail, attachment: Attachment
) -> dict[str, Any]:
    """Kept in the attachment store under its content hash (a mail read twice stores the
    same file); the name is only metadata, never a path, so a crafted file name cannot
    escape the store. Any type is kept (as a download); an oversized one is only listed."""
    try:
        kept = await attachment_records.keep(
            services,
            workspace_id=result.conversation.workspace_id,
            conversation_id=result.conversation.id,
            data=attachment.data,
            filename=attachment.filename,
            source="email",
            kinds=None,
            max_bytes=services.settings.email_max_attachment_bytes,
            message_id=result.message.id,
        )
    except (TooLarge, InvalidInput) as exc:
        meta = {
            "filename": attachment.filename[:200],
            "content_type": attachment.content_type,
            "size": len(attachment.data),
        }
        log.warning("email %s: attachment %s refused: %s", mail.message_id, meta, exc)
        limit = services.settings.email_max_attachment_bytes
        reason = f"larger than {limit} bytes" if isinstance(exc, TooLarge) else str(exc)
        return {**meta, "stored": False, "refused": reason}
    return kept.descriptor()
