"""The conversation path. Every channel (the web widget, the REST API, later WhatsApp, SMS,
email and helpdesk webhooks) turns its payload into an ``IncomingMessage`` and calls
``handle_message``. Read it top to bottom and you know the product:

    take the per-conversation lock        (it brings the session context along)
    load the conversation (and replay the result if this client_id was seen before)
    understand the message                (policy.understand: language, intent, entities, ...)
    decide                                (policy.decide: replies, status change, events)
    store the customer's message, the replies, the status change and the events in ONE
        transaction                       <- card numbers masked; from here on nothing is lost
    publish them and save the session context as the lock is released

Only then is the customer's message acknowledged (its echo carries its client_id). A streamed
answer, or a decision that fails, stores and publishes the customer's message first.
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
    # The lock's own round trips read the session context and, at the end, save it and
    # publish the turn's events.
    session_key = services.sessions.key(incoming.conversation_id)
    lock = services.backplane.lock(f"lock:{incoming.conversation_id}", read=[session_key])
    async with lock as held:
        conversation, seen = await services.store.load_turn(
            incoming.conversation_id, incoming.client_id
        )
        if conversation is None:
            raise NotFound(f"unknown conversation {incoming.conversation_id!r}")
        if seen is not None:
            replies = await services.store.replies_to(seen.id)
            return TurnResult(seen, replies, conversation, duplicate=True)
        workspace = services.workspace(conversation.workspace_id)
        policy = services.policy
        assert policy is not None, "open_services builds the policy"
        context = services.sessions.parse(conversation.id, held.values[session_key])
        understanding = await policy.understand(workspace, text, context)
        analysis = understanding.as_dict()
        if understanding.intent:
            context.last_intents = (context.last_intents + [understanding.intent])[-10:]
        customer = _Pending(
            services,
            Message(
                id=new_id(),
                conversation_id=conversation.id,
                seq=0,
                author=Author.CUSTOMER,
                text=text,
                client_id=incoming.client_id,
                meta={"channel": incoming.channel, "nlu": analysis},
            ),
            ticket=bool(conversation.metadata.get("helpdesk_ticket")),
        )
        message = customer.message

        async def stream(delta: str) -> None:
            await customer.store_now()  # the customer's message shows before the answer
            await publish(
                services,
                message.conversation_id,
                {"type": "delta", "reply_to": message.id, "text": delta},
            )

        try:
            decision = await policy.decide(
                Turn(workspace, conversation, message, context, understanding, stream)
            )
        except Exception:
            await customer.store_now()  # no answer, but what the customer wrote is kept
            raise
        replies = []
        for reply in decision.replies:
            meta = dict(reply.meta)
            if reply.quick_replies:
                meta["quick_replies"] = reply.quick_replies
            replies.append(
                Message(
                    id=new_id(),
                    conversation_id=conversation.id,
                    seq=0,
                    author=Author.BOT,
                    text=reply.text,
                    reply_to=message.id,
                    meta=meta,
                )
            )
        status = decision.status if decision.status != conversation.status else None
        events: list[tuple[str, dict[str, Any]]] = []
        if status is not None:
            events.append(
                ("conversation.status", {"status": status.value, "reason": decision.reason})
            )
        events += decision.events
        events.append(
            (
                "turn",
                {
                    "message_id": message.id,
                    "intent": understanding.intent,
                    "confidence": analysis["confidence"],
                    "replies": len(replies),
                    "step": replies[-1].meta.get("step") if replies else None,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        )
        # The turn's writes in one transaction: the customer's message (unless stored
        # already), the replies, the status change and the events.
        with_message = not customer.stored
        new = [message, *replies] if with_message else replies
        conversation = await services.store.record_turn(
            conversation.id, new, status=status, events=events
        )
        channel = conversation_channel(conversation.id)
        outgoing = [(channel, {"type": "message", "message": message_json(m)}) for m in new]
        if status is not None:
            outgoing.append((channel, {"type": "status", "status": status.value}))
            outgoing.append(_inbox_notice(conversation))
        held.on_release(sets=[services.sessions.entry(context)], publishes=outgoing)
        if with_message:
            await customer.forward()
    return TurnResult(message, replies, conversation)


class _Pending:
    """The customer's message, stored with the rest of the turn in one transaction, unless
    something has to reach the customer earlier (a streamed answer) or the turn fails: then
    it is stored and published first, on its own. Either way it is stored before the echo
    that acknowledges it is published."""

    def __init__(self, services: Services, message: Message, *, ticket: bool) -> None:
        self.services = services
        self.message = message
        self.ticket = ticket  # the conversation has a helpdesk ticket to add it to
        self.stored = False

    async def store_now(self) -> None:
        if self.stored:
            return
        await self.services.store.record_turn(self.message.conversation_id, [self.message])
        self.stored = True
        await publish(
            self.services,
            self.message.conversation_id,
            {"type": "message", "message": message_json(self.message)},
        )
        await self.forward()

    async def forward(self) -> None:
        if self.ticket:
            await _forward_to_ticket(self.services, self.message)


async def _forward_to_ticket(services: Services, message: Message) -> None:
    """What the customer writes after a helpdesk ticket was requested is added to it."""
    # Imported here: the helpdesk package itself publishes through this module.
    from smartsupport.helpdesk.tickets import forward_customer_message

    await forward_customer_message(services, message)


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
    await services.backplane.publish(*_inbox_notice(conversation))


def _inbox_notice(conversation: Conversation) -> tuple[str, dict[str, Any]]:
    """Agents' inboxes refresh their queue when a conversation's status changes."""
    return (
        inbox_channel(conversation.workspace_id),
        {"type": "inbox", "change": "status", "conversation_id": conversation.id},
    )
