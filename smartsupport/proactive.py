"""Proactive messages: the business's systems tell a customer something first ("your order
shipped", "your return label expires tomorrow") on the customer's channel.

    schedule(db, workspace_id, conversation_id, request)   one ``proactive.send`` outbox row,
                                                           due at ``send_at`` (durable: a
                                                           restart or a crash loses nothing)
    deliver(services, entry)                               its handler, when it is due:

      consent       an address that sent STOP gets nothing (``skipped: opted_out``); a message
                    that requires an opt-in goes only to an address that opted in (START, or
                    the business recorded it: ``skipped: no_opt_in``). Read at send time, so
                    a STOP after scheduling still stops it; a skip is a ``proactive.skipped``
                    event of the conversation as well as the entry's result. A web widget
                    conversation has no address and no STOP: its message is stored and
                    published (the widget shows it live or in the history). A message
                    marked ``unless_handed_over`` (a flow's reminder) is skipped
                    (``handed_over``) while a person holds the conversation when it is due.
      record        the message is stored in the conversation (agents see it) with the
                    channel's own deliveries, in one transaction, under the conversation's
                    lock; its client_id (``proactive:<entry id>``) makes a repeated run a no-op
      send          the channel's outbox items send it with that channel's rules: WhatsApp
                    outside the 24-hour window only as the approved template given (or the
                    workspace's), Twilio WhatsApp as its Content template, SMS as text, the
                    API channel as a signed webhook; each retried on its own

An entry's age for the outbox's give-up rule counts from its due time, not from when it was
scheduled, so a reminder set a month ahead is retried like any other delivery.
"""

from __future__ import annotations

from typing import Any

from smartsupport import outbox
from smartsupport.channels import channel_for, contacts
from smartsupport.domain import Author, ConversationStatus, Message
from smartsupport.errors import DeliveryError
from smartsupport.fanout import conversation_lock, publish_message
from smartsupport.ids import new_id
from smartsupport.proactive_request import (
    ADDRESSLESS,
    CHANNELS,
    KIND,
    ProactiveRequest,
    idempotency_key,
    outbox_item,
)
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor

PERSON_HOLDS = (ConversationStatus.WAITING, ConversationStatus.WITH_AGENT)

__all__ = [
    "ADDRESSLESS", "CHANNELS", "KIND", "ProactiveRequest", "deliver", "find",
    "idempotency_key", "schedule",
]  # fmt: skip


async def schedule(
    db: SqlExecutor, workspace_id: str, conversation_id: str, request: ProactiveRequest
) -> outbox.Entry:
    """Enqueue the message (or find the one already scheduled under this key)."""
    item = outbox_item(workspace_id, conversation_id, request)
    await outbox.enqueue(db, workspace_id, item)
    found = await find(db, workspace_id, request.key)
    assert found is not None, "just enqueued"
    return found


async def find(db: SqlExecutor, workspace_id: str, key: str) -> outbox.Entry | None:
    row = await db.fetchrow(
        "SELECT id FROM outbox WHERE idempotency_key = ?", idempotency_key(workspace_id, key)
    )
    return await outbox.get(db, str(row["id"])) if row else None


async def deliver(services: Services, entry: Any) -> dict[str, Any]:
    """The ``proactive.send`` handler (see the module docstring)."""
    payload = entry.payload
    db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
    conversation_id = payload["conversation_id"]
    contact = await contacts.for_conversation(db, conversation_id)
    if contact is not None:
        channel, consent = contact.channel, contact.consent
    else:
        found = await services.store.get_conversation(conversation_id)
        if found is None:
            raise DeliveryError("proactive: the conversation was erased")
        if found.channel not in ADDRESSLESS:
            raise DeliveryError(f"proactive: the {found.channel} conversation has no address")
        channel, consent = found.channel, "unknown"  # no STOP on the web: nothing to honour
    skipped = (
        "opted_out"
        if consent == "out"
        else "no_opt_in"
        if payload.get("require_opt_in") and consent != "in"
        else None
    )
    if skipped is None and payload.get("unless_handed_over"):
        held = await services.store.get_conversation(conversation_id)
        if held is not None and held.status in PERSON_HOLDS:
            skipped = "handed_over"  # the person speaks for us now
    if skipped is not None:
        # Recorded in the conversation too: its agents (and analytics) see why nothing went.
        await services.store.add_event(
            entry.workspace_id,
            "proactive.skipped",
            {"key": payload.get("key"), "channel": channel, "reason": skipped},
            conversation_id=conversation_id,
        )
        return {"skipped": skipped}
    client_id = f"proactive:{entry.id}"
    store = services.store
    async with conversation_lock(services, conversation_id):
        earlier = await store.get_message_by_client_id(conversation_id, client_id)
        if earlier is not None:  # stored by an earlier run whose result was not saved
            return {"message_id": earlier.id}
        conversation = await store.get_conversation(conversation_id)
        if conversation is None:
            raise DeliveryError("proactive: the conversation was erased")
        message = Message(
            id=new_id(),
            conversation_id=conversation_id,
            seq=0,
            author=Author.BOT,
            text=payload["text"],
            client_id=client_id,
            meta={
                "step": "proactive",
                "proactive": payload.get("key"),
                **({"template": payload["template"]} if payload.get("template") else {}),
            },
        )
        sends = channel_for(conversation.channel).deliveries(conversation, [message])
        await store.record_turn(
            conversation_id,
            [message],
            events=[("proactive.sent", {"key": payload.get("key"), "channel": channel})],
            outbox=sends,
        )
    services.outbox_due.set()
    await publish_message(services, message)
    return {"message_id": message.id, "sends": len(sends)}
