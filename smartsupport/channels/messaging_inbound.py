"""One customer message from a messaging channel (WhatsApp, SMS, the API channel) through
the conversation path; the provider's webhook routes call ``receive`` after checking the
signature.

    receive(services, workspace_id, channel, address, payload, ...)
      contact       the address's conversation (one per address and channel), started on the
                    first message; the customer is ``phone:<number>`` on SMS and WhatsApp, so
                    one phone is one customer on both
      window        the customer wrote: WhatsApp's 24-hour window opens (at the provider's
                    timestamp, so a webhook retried hours later does not stretch it)
      options       a number answering numbered options becomes the option (options.py)
      keywords      STOP / START / HELP (opt_out.py): consent stored, the customer's message
                    kept in the transcript, a confirmation sent unless the provider sends its
                    own (Twilio's Advanced Opt-Out); the assistant is not asked
      turn          conversation.handle_message with client_id = the provider's message id:
                    the same webhook delivered twice stores and answers one message; media
                    ids and URLs, locations are kept on the customer's message
      media         photos, files and voice notes are downloaded from the provider and
                    stored, voice notes transcribed (messaging_media.py)

Every step is safe to repeat, so a provider's retry after a timeout is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartsupport import messages
from smartsupport.channels import contacts, messaging_media
from smartsupport.channels.base import Channel
from smartsupport.channels.contacts import Contact
from smartsupport.channels.opt_out import Keyword, keyword
from smartsupport.channels.options import last_choices
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import Author, IncomingMessage, Message, TurnResult, utcnow
from smartsupport.errors import NotFound
from smartsupport.fanout import conversation_lock, publish_message
from smartsupport.ids import new_id
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor

log = logging.getLogger(__name__)
PHONE_CHANNELS = {"whatsapp", "sms", "twilio_whatsapp"}
CONSENT = {"stop": "out", "start": "in"}
CONFIRMATION = {"stop": "channel.opted_out", "start": "channel.opted_in", "help": "channel.help"}
HISTORY = 12  # recent messages read to find the numbered options a reply may answer


@dataclass(slots=True)
class Received:
    client_id: str | None
    conversation_id: str
    result: TurnResult | None = None
    keyword: Keyword | None = None
    duplicate: bool = False
    ignored: str | None = None


def _db(services: Services) -> SqlExecutor:
    return services.store  # type: ignore[return-value]  # every store backend is SQL


def customer_key(channel: str, address: str) -> str:
    """The customer's external id: one phone number is one customer on SMS and WhatsApp
    (WhatsApp Cloud writes it without the +, Twilio with it)."""
    if channel in PHONE_CHANNELS:
        return "phone:+" + address.lstrip("+")
    return f"{channel}:{address}"


async def contact_for(
    services: Services,
    workspace_id: str,
    channel: str,
    address: str,
    customer: dict[str, Any] | None = None,
) -> Contact:
    """The address's contact and conversation, started on first use."""
    db = _db(services)
    found = await contacts.find(db, workspace_id, channel, address)
    if found is not None:
        return found
    info = {"external_id": customer_key(channel, address), **(customer or {})}
    conversation, _ = await start_conversation(
        services, workspace_id, channel=channel, customer=info
    )
    return await contacts.file(
        db, workspace_id, channel, address, conversation.id, conversation.customer_id
    )


async def receive(
    services: Services,
    workspace_id: str,
    channel: Channel,
    address: str,
    payload: dict[str, Any],
    *,
    customer: dict[str, Any] | None = None,
    sent_at: datetime | None = None,
    sms: bool = False,
    provider_confirms: bool = False,
    keywords: bool = True,
) -> Received:
    contact = await contact_for(services, workspace_id, channel.name, address, customer)
    conversation_id = contact.conversation_id
    await contacts.touch_inbound(_db(services), workspace_id, channel.name, address, sent_at)
    history = await _recent(services, conversation_id)
    incoming = channel.parse(conversation_id, {**payload, "choices": last_choices(history)})
    if not incoming:
        log.info("%s message to %s ignored: nothing to answer", channel.name, workspace_id)
        return Received(None, conversation_id, ignored="nothing to answer")
    message = incoming[0]
    message.text = message.text[: services.settings.max_message_chars]
    word = keyword(message.text, sms=sms, opted_out=contact.opted_out) if keywords else None
    if word is not None:
        return await _keyword(services, channel, contact, message, word, provider_confirms)
    if message.metadata.get("media") and channel.name in PHONE_CHANNELS:
        # files downloaded from the provider and stored, voice notes transcribed
        result = await messaging_media.receive(services, workspace_id, channel.name, message)
    else:
        result = await handle_message(services, message)
        if message.metadata and not result.duplicate:
            await services.store.update_message_meta(result.message.id, message.metadata)
    return Received(message.client_id, conversation_id, result, duplicate=result.duplicate)


async def _recent(services: Services, conversation_id: str) -> list[Message]:
    conversation = await services.store.get_conversation(conversation_id)
    after = max(0, (conversation.last_seq if conversation else 0) - HISTORY)
    return await services.store.list_messages(conversation_id, after=after)


async def _keyword(
    services: Services,
    channel: Channel,
    contact: Contact,
    incoming: IncomingMessage,
    word: Keyword,
    provider_confirms: bool,
) -> Received:
    """STOP, START or HELP: stored with its confirmation in one transaction, under the
    conversation's lock (a retried webhook finds its client_id and changes nothing)."""
    conversation_id = contact.conversation_id
    store = services.store
    async with conversation_lock(services, conversation_id):
        if incoming.client_id and await store.get_message_by_client_id(
            conversation_id, incoming.client_id
        ):
            return Received(incoming.client_id, conversation_id, keyword=word, duplicate=True)
        conversation = await store.get_conversation(conversation_id)
        assert conversation is not None, "a contact's conversation exists"
        if word in CONSENT:
            consent = CONSENT[word]
            await contacts.set_consent(
                _db(services),
                contact.workspace_id,
                channel.name,
                contact.address,
                consent,  # type: ignore[arg-type]
            )
        said = Message(
            id=new_id(),
            conversation_id=conversation_id,
            seq=0,
            author=Author.CUSTOMER,
            text=incoming.text,
            client_id=incoming.client_id,
            meta={"channel": channel.name, "keyword": word},
        )
        replies = []
        if not provider_confirms:
            workspace = services.workspace(contact.workspace_id)
            language = str(conversation.metadata.get("locale") or workspace.default_locale)
            text = messages.text(workspace, CONFIRMATION[word], language, name=workspace.name)
            # "compliance": the confirmation of a STOP still reaches the address that sent it.
            replies.append(
                Message(
                    id=new_id(),
                    conversation_id=conversation_id,
                    seq=0,
                    author=Author.BOT,
                    text=text,
                    reply_to=said.id,
                    meta={"step": f"keyword.{word}", "compliance": True},
                )
            )
        event = {"channel": channel.name, "keyword": word}
        await store.record_turn(
            conversation_id,
            [said, *replies],
            events=[(f"channel.{word}", event)],
            outbox=channel.deliveries(conversation, replies),
        )
    if replies:
        services.outbox_due.set()
    for stored in (said, *replies):
        await publish_message(services, stored)
    log.info(
        "%s %s from a customer of %s recorded", channel.name, word.upper(), contact.workspace_id
    )
    return Received(incoming.client_id, conversation_id, keyword=word)


async def record_status(
    services: Services, channel: str, provider_id: str, status: str, error: str | None = None
) -> bool:
    """A delivery status webhook (sent, delivered, read, failed) on the messages it is
    about: ``meta.delivery`` of each, so the inbox shows read receipts. Out-of-order and
    unknown ids change nothing (False)."""
    moved = await contacts.advance_delivery(_db(services), channel, provider_id, status, error)
    if moved is None:
        return False
    delivery = {"status": status, "at": utcnow().isoformat(), **({"error": error} if error else {})}
    for message_id in moved["message_ids"]:  # type: ignore[attr-defined]
        try:
            await services.store.update_message_meta(str(message_id), {"delivery": delivery})
        except NotFound:
            continue  # erased since (privacy): the status has nothing left to mark
    return True
