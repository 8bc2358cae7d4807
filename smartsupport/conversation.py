"""The conversation path. Every channel (the web widget, the REST API, later WhatsApp, SMS,
email and helpdesk webhooks) turns its payload into an ``IncomingMessage`` and calls
``handle_message``. Read it top to bottom and you know the product:

    take the per-conversation lock
    load the conversation (and replay the result if this client_id was seen before)
    store the incoming message            <- card numbers masked; from here on nothing is lost
    publish it to the conversation's subscribers (and its helpdesk ticket, once there is one)
    understand it                         (policy.understand: language, intent, entities, ...)
    decide                                (policy.decide: replies, status change, events)
    store each reply and publish it
    apply the status change, save the session context, append to the event log
"""

from __future__ import annotations

import time
from typing import Any

from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    IncomingMessage,
    Message,
    TurnResult,
)
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.identity import conversation_identity
from smartsupport.ids import new_id
from smartsupport.policy import Turn
from smartsupport.privacy import mask_cards
from smartsupport.services import Services
from smartsupport.wire import conversation_channel, inbox_channel, message_json


async def start_conversation(
    services: Services,
    workspace_id: str,
    *,
    channel: str = "web",
    customer: dict[str, Any] | None = None,
    locale: str | None = None,
    identity: str | None = None,
) -> tuple[Conversation, list[Message]]:
    """Create (or find, by external id) the customer, open a conversation and store the
    workspace's greeting as its first message. ``identity`` is a verified user id: flows
    then use that customer's profile and orders."""
    workspace = services.workspace(workspace_id)
    info = dict(customer or {})
    known = None
    if info.get("external_id"):
        known = await services.store.find_customer(workspace.id, info["external_id"])
    if known is None:
        known = await services.store.create_customer(
            Customer(
                id=new_id(),
                workspace_id=workspace.id,
                external_id=info.get("external_id"),
                name=info.get("name"),
                email=info.get("email"),
                locale=info.get("locale") or locale,
                channel=channel,
                segment=info.get("segment"),
                metadata=info.get("metadata") or {},
            )
        )
    conversation = await services.store.create_conversation(
        Conversation(
            id=new_id(),
            workspace_id=workspace.id,
            customer_id=known.id,
            channel=channel,
            metadata={
                "locale": locale or known.locale or workspace.default_locale,
                **(
                    {"identity": conversation_identity(identity, known.segment)} if identity else {}
                ),
            },
        )
    )
    greeting = await services.store.append_message(
        conversation.id,
        Author.BOT,
        workspace.greeting,
        meta={"quick_replies": workspace.quick_replies, "step": "greeting"},
    )
    await services.store.add_event(
        workspace.id,
        "conversation.started",
        {"channel": channel, "customer_id": known.id},
        conversation_id=conversation.id,
    )
    return conversation, [greeting]


async def handle_message(services: Services, incoming: IncomingMessage) -> TurnResult:
    """Store the customer's message, let the policy answer, store and publish the replies."""
    # Card numbers are never stored in clear, not even in the transcript.
    text = mask_cards(incoming.text.strip())
    if not text:
        raise InvalidInput("message text is empty")
    if len(text) > services.settings.max_message_chars:
        raise InvalidInput(
            f"message is {len(text)} characters; the limit is "
            f"{services.settings.max_message_chars}",
            code="message_too_long",
        )
    started = time.perf_counter()
    async with services.backplane.lock(f"lock:{incoming.conversation_id}"):
        conversation = await _load(services, incoming.conversation_id)
        if incoming.client_id:
            seen = await services.store.get_message_by_client_id(
                conversation.id, incoming.client_id
            )
            if seen is not None:
                replies = await services.store.replies_to(seen.id)
                return TurnResult(seen, replies, conversation, duplicate=True)
        workspace = services.workspace(conversation.workspace_id)
        message = await services.store.append_message(
            conversation.id,
            Author.CUSTOMER,
            text,
            client_id=incoming.client_id,
            meta={"channel": incoming.channel},
        )
        await publish(
            services, conversation.id, {"type": "message", "message": message_json(message)}
        )
        if conversation.metadata.get("helpdesk_ticket"):
            await _forward_to_ticket(services, message)

        policy = services.policy
        assert policy is not None, "open_services builds the policy"
        context = await services.sessions.load(conversation.id)
        understanding = await policy.understand(workspace, text, context)
        analysis = understanding.as_dict()
        message.meta.update({"nlu": analysis})
        await services.store.update_message_meta(message.id, {"nlu": analysis})
        if understanding.intent:
            context.last_intents = (context.last_intents + [understanding.intent])[-10:]

        async def stream(delta: str) -> None:
            await publish(
                services,
                conversation.id,
                {"type": "delta", "reply_to": message.id, "text": delta},
            )

        decision = await policy.decide(
            Turn(workspace, conversation, message, context, understanding, stream)
        )
        replies = []
        for reply in decision.replies:
            meta = dict(reply.meta)
            if reply.quick_replies:
                meta["quick_replies"] = reply.quick_replies
            stored = await services.store.append_message(
                conversation.id, Author.BOT, reply.text, reply_to=message.id, meta=meta
            )
            replies.append(stored)
            await publish(
                services, conversation.id, {"type": "message", "message": message_json(stored)}
            )
        if decision.status is not None and decision.status != conversation.status:
            conversation = await services.store.set_status(conversation.id, decision.status)
            await publish(
                services, conversation.id, {"type": "status", "status": conversation.status.value}
            )
            await services.store.add_event(
                workspace.id,
                "conversation.status",
                {"status": conversation.status.value, "reason": decision.reason},
                conversation_id=conversation.id,
            )
            await _tell_inbox(services, conversation)
        await services.sessions.save(context)
        for event_type, data in decision.events:
            await services.store.add_event(
                workspace.id, event_type, data, conversation_id=conversation.id
            )
        await services.store.add_event(
            workspace.id,
            "turn",
            {
                "message_id": message.id,
                "intent": understanding.intent,
                "confidence": analysis["confidence"],
                "replies": len(replies),
                "step": replies[-1].meta.get("step") if replies else None,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
            conversation_id=conversation.id,
        )
    return TurnResult(message, replies, conversation)


async def _forward_to_ticket(services: Services, message: Message) -> None:
    """What the customer writes after a helpdesk ticket was requested is added to it."""
    # Imported here: the helpdesk package itself publishes through this module.
    from smartsupport.helpdesk.tickets import forward_customer_message

    await forward_customer_message(services, message)


async def _load(services: Services, conversation_id: str) -> Conversation:
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"unknown conversation {conversation_id!r}")
    return conversation


async def publish(services: Services, conversation_id: str, event: dict[str, Any]) -> None:
    await services.backplane.publish(conversation_channel(conversation_id), event)


async def set_status(
    services: Services, conversation_id: str, status: ConversationStatus, reason: str
) -> Conversation:
    """Change a conversation's status outside a customer turn (agents, timers, webhooks)."""
    async with services.backplane.lock(f"lock:{conversation_id}"):
        conversation = await services.store.set_status(conversation_id, status)
        await services.store.add_event(
            conversation.workspace_id,
            "conversation.status",
            {"status": status.value, "reason": reason},
            conversation_id=conversation_id,
        )
    await publish(services, conversation_id, {"type": "status", "status": status.value})
    await _tell_inbox(services, conversation)
    return conversation


async def _tell_inbox(services: Services, conversation: Conversation) -> None:
    """Agents' inboxes refresh their queue when a conversation's status changes."""
    await services.backplane.publish(
        inbox_channel(conversation.workspace_id),
        {"type": "inbox", "change": "status", "conversation_id": conversation.id},
    )
