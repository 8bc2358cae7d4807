"""The conversation path. Every channel (``channels/``: the web widget and REST API today)
turns its payload into an ``IncomingMessage`` and calls ``handle_message``. Read it top to
bottom and you know the product:

    handle_message
      take_turn     the conversation's lock (the context comes with it); load the
                    conversation, or replay the result if this client_id was seen before
      understand    assistant.understand: language, intent or out-of-scope, entities
      decide        assistant.decide: replies and every effect, as data (turn.Decision)
      record        ONE transaction: the customer's message (card numbers masked), the
                    replies, status, metadata (priority, usage), events and outbox work
                    (notices, ticket notes)      <- from here on nothing is lost
      publish       as the lock is released: the context is saved and the messages, status
                    and inbox notice published (one backplane round trip on Redis)

Only then is the customer's message acknowledged (its echo carries its client_id). A streamed
answer, or a decision that fails, stores and publishes the customer's message first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from smartsupport import messages
from smartsupport.backplane.base import Held
from smartsupport.channels import channel_for
from smartsupport.consent import require_consent
from smartsupport.context import ConversationContext
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    IncomingMessage,
    Message,
    OutboxItem,
    TurnResult,
    Understanding,
)
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.events.schema import event_items
from smartsupport.fanout import (
    Publication,
    conversation_event,
    conversation_lock,
    inbox_event,
    message_event,
    publish,
    publish_message,
    unread_event,
)
from smartsupport.helpdesk.tickets import ticket_note
from smartsupport.identity import conversation_identity
from smartsupport.ids import new_id
from smartsupport.privacy import mask_cards
from smartsupport.services import Services
from smartsupport.turn import Decision, Responder, Turn
from smartsupport.workspaces import WorkspaceConfig


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
    # Before the customer writes, their language is the visitor's locale.
    language = conversation.metadata["locale"]
    greeting = Message(
        id=new_id(),
        conversation_id=conversation.id,
        seq=0,
        author=Author.BOT,
        text=messages.text(workspace, "greeting", language),
        meta={"quick_replies": messages.quick_replies(workspace, language), "step": "greeting"},
    )
    # The greeting, the event log entry and the data-team event in one transaction.
    started = {"channel": channel, "customer_id": known.id}
    outbox = event_items(
        bool(services.settings.events_url),
        "conversation.started",
        workspace.id,
        conversation.id,
        {**started, "locale": language},
    )
    await services.store.record_turn(
        conversation.id, [greeting], events=[("conversation.started", started)], outbox=outbox
    )
    if outbox:
        services.outbox_due.set()
    return conversation, [greeting]


# Context the conversation keeps when it starts afresh after a resolve: once-per-conversation
# handoff rules stay fired, and the customer record stays read.
KEPT_AFTER_RESOLVE = ("escalation", "customer")


@dataclass(slots=True)
class _Taken:
    """A turn in progress: what ``take_turn`` found and what the later steps add."""

    workspace: WorkspaceConfig
    conversation: Conversation
    context: ConversationContext
    message: Message  # the customer's, not yet stored
    held: Held
    started: float
    understanding: Understanding = field(default_factory=Understanding)
    stored: bool = False  # stored early: a streamed answer, or a failed decision


async def handle_message(services: Services, incoming: IncomingMessage) -> TurnResult:
    """Store the customer's message, let the assistant answer, store and publish the turn."""
    text = _checked_text(services, incoming)
    key = services.contexts.key(incoming.conversation_id)
    # ``turn`` times each step (metrics, spans) and tags log lines with the conversation.
    with services.telemetry.turn(incoming.conversation_id) as turn:
        async with conversation_lock(services, incoming.conversation_id, read=[key]) as held:
            taken = await take_turn(services, incoming, text, held)
            if isinstance(taken, TurnResult):
                turn.outcome = "duplicate"
                return taken  # a retry of a stored message: the same result again
            turn.step("understand")
            await understand(services, taken)
            turn.step("decide")
            decision = await decide(services, taken)
            turn.step("record")
            result = await record(services, taken, decision)
            _assistant(services).recorded(taken.workspace, taken.message, taken.understanding)
            turn.step("publish_on_release")  # until the lock is released, the publishes sent
            publish_on_release(services, taken, result, status_changed=decision.status)
    return result


def _checked_text(services: Services, incoming: IncomingMessage) -> str:
    # Card numbers are never stored in clear, not even in the transcript.
    text = mask_cards(incoming.text.strip())
    if not text:
        raise InvalidInput("message text is empty")
    limit = services.settings.max_message_chars
    if len(text) > limit:
        raise InvalidInput(
            f"message is {len(text)} characters; the limit is {limit}", code="message_too_long"
        )
    return text


# What a channel may put on the customer's message besides its text: the files it listed
# (attachment_records descriptors) and, for a voice note, how its text was heard.
CARRIED = ("attachments", "voice")


def _carried(incoming: IncomingMessage) -> dict[str, Any]:
    return {k: incoming.metadata[k] for k in CARRIED if k in incoming.metadata}


def _assistant(services: Services) -> Responder:
    assert services.assistant is not None, "the wiring sets the assistant"
    return services.assistant


async def take_turn(
    services: Services, incoming: IncomingMessage, text: str, held: Held
) -> _Taken | TurnResult:
    """The conversation and its context, with the lock held; the earlier result when this
    ``client_id`` was already stored (an idempotent retry)."""
    conversation, seen = await services.store.load_turn(
        incoming.conversation_id, incoming.client_id
    )
    if conversation is None:
        raise NotFound(f"unknown conversation {incoming.conversation_id!r}")
    if seen is not None:
        replies = await services.store.replies_to(seen.id)
        return TurnResult(seen, replies, conversation, duplicate=True)
    if conversation.channel == "web":  # the widget asks for consent (consent.py)
        require_consent(services.workspace(conversation.workspace_id), conversation)
    message = Message(
        id=new_id(),
        conversation_id=conversation.id,
        seq=0,
        author=Author.CUSTOMER,
        text=text,
        client_id=incoming.client_id,
        meta={"channel": incoming.channel, **_carried(incoming)},
    )
    context = services.contexts.parse(
        conversation.id, held.values[services.contexts.key(conversation.id)]
    )
    if conversation.status is ConversationStatus.RESOLVED:
        # The customer comes back after a resolve: a new topic. A flow that was waiting when
        # a person took over must not ask its stale question (or take a "yes" meant for
        # something else). What handoff rules already fired, and the customer record, hold.
        kept = {k: context.data[k] for k in KEPT_AFTER_RESOLVE if k in context.data}
        context = ConversationContext(conversation.id, data=kept)
    return _Taken(
        workspace=services.workspace(conversation.workspace_id),
        conversation=conversation,
        context=context,
        message=message,
        held=held,
        started=time.perf_counter(),
    )


async def understand(services: Services, taken: _Taken) -> None:
    """Language, intent, entities, sentiment: kept with the message and in the context."""
    understanding = await _assistant(services).understand(
        taken.workspace, taken.message.text, taken.context
    )
    taken.understanding = understanding
    taken.message.meta["nlu"] = understanding.as_dict()
    if understanding.intent:
        taken.context.remember_intent(understanding.intent)


async def decide(services: Services, taken: _Taken) -> Decision:
    """The assistant's decision. A streamed answer shows the customer's message first; a
    failed decision still keeps what the customer wrote."""

    async def stream(delta: str) -> None:
        await _store_early(services, taken)
        await publish(
            services,
            taken.conversation.id,
            {"type": "delta", "reply_to": taken.message.id, "text": delta},
        )

    turn = Turn(
        taken.workspace,
        taken.conversation,
        taken.message,
        taken.context,
        taken.understanding,
        stream,
    )
    try:
        return await _assistant(services).decide(turn)
    except Exception:
        await _store_early(services, taken)
        raise


async def record(services: Services, taken: _Taken, decision: Decision) -> TurnResult:
    """The turn's writes in ONE transaction: the customer's message (unless stored early),
    the replies, the status change, metadata, events and outbox work (added, or called
    back: a flow's cancel_message)."""
    conversation, message = taken.conversation, taken.message
    replies = [
        Message(
            id=new_id(),
            conversation_id=conversation.id,
            seq=0,
            author=Author.BOT,
            text=reply.text,
            reply_to=message.id,
            meta={
                **reply.meta,
                **({"quick_replies": reply.quick_replies} if reply.quick_replies else {}),
            },
        )
        for reply in decision.replies
    ]
    status = decision.status if decision.status != conversation.status else None
    events: list[tuple[str, dict[str, Any]]] = []
    if status is not None:
        events.append(("conversation.status", {"status": status.value, "reason": decision.reason}))
    events += decision.events
    events.append(("turn", _turn_summary(taken, replies)))
    # Replies the channel sends out itself (email, SMS, ...) go through the outbox too.
    outbox = [
        *decision.outbox,
        *channel_for(conversation.channel).deliveries(conversation, replies),
    ]
    outbox += _stream_events(services, taken, decision, replies)
    new = replies
    if not taken.stored:
        new = [message, *replies]
        outbox += await _ticket_note(services, taken)
    conversation = await services.store.record_turn(
        conversation.id,
        new,
        status=status,
        events=events,
        metadata=decision.metadata,
        outbox=outbox,
        cancel=decision.cancel,
    )
    if outbox:
        services.outbox_due.set()
    return TurnResult(message, replies, conversation)


def _turn_summary(taken: _Taken, replies: list[Message]) -> dict[str, Any]:
    """The ``turn`` event: what analytics and benchmarks read about each turn."""
    return {
        "message_id": taken.message.id,
        "intent": taken.understanding.intent,
        "confidence": taken.message.meta["nlu"]["confidence"],
        "replies": len(replies),
        "step": replies[-1].meta.get("step") if replies else None,
        "ms": round((time.perf_counter() - taken.started) * 1000, 2),
    }


# -- events for data teams (events/schema.py, docs/events.md) ---------------------------------
def _stream_events(
    services: Services, taken: _Taken, decision: Decision, replies: list[Message]
) -> list[OutboxItem]:
    """``turn.completed``, and ``handoff.requested`` when this turn hands the conversation
    to people: outbox items recorded with the turn (none when events are off)."""
    enabled = bool(services.settings.events_url)
    if not enabled:
        return []
    conversation, nlu = taken.conversation, taken.understanding
    status = decision.status or conversation.status
    workspace_id = conversation.workspace_id
    items = event_items(
        enabled,
        "turn.completed",
        workspace_id,
        conversation.id,
        {
            "message_id": taken.message.id,
            "reply_ids": [reply.id for reply in replies],
            "channel": conversation.channel,
            "language": nlu.language,
            "intent": nlu.intent,
            "confidence": round(nlu.confidence, 4),
            "out_of_scope": nlu.out_of_scope,
            "sentiment": round(nlu.sentiment, 4),
            "step": replies[-1].meta.get("step") if replies else None,
            "reason": decision.reason,
            "status": status.value,
            "ms": round((time.perf_counter() - taken.started) * 1000, 2),
        },
    )
    if status is ConversationStatus.WAITING and conversation.status is not status:
        priority = decision.metadata.get("priority") or conversation.metadata.get("priority")
        items += event_items(
            enabled,
            "handoff.requested",
            workspace_id,
            conversation.id,
            {
                "message_id": taken.message.id,
                "reason": decision.reason,
                "priority": priority or "normal",
                "channel": conversation.channel,
            },
        )
    return items


# -- end of events ------------------------------------------------------------------------------


def publish_on_release(
    services: Services,
    taken: _Taken,
    result: TurnResult,
    *,
    status_changed: ConversationStatus | None,
) -> None:
    """Save the context and publish the turn as the lock is released (after the commit)."""
    conversation = result.conversation
    stored = result.replies if taken.stored else [result.message, *result.replies]
    outgoing: list[Publication] = [message_event(m) for m in stored]
    if not taken.stored:  # the queue's unread counts, from the event (fanout.unread_event)
        unread = unread_event(conversation, result.message)
        outgoing += [unread] if unread is not None else []
    if status_changed is not None and status_changed != taken.conversation.status:
        outgoing.append(
            conversation_event(
                conversation.id, {"type": "status", "status": conversation.status.value}
            )
        )
        outgoing.append(inbox_event(conversation.workspace_id, "status", conversation.id))
    taken.held.on_release(sets=[services.contexts.entry(taken.context)], publishes=outgoing)


async def _store_early(services: Services, taken: _Taken) -> None:
    """Store and publish the customer's message on its own, before the rest of the turn."""
    if taken.stored:
        return
    outbox = await _ticket_note(services, taken)
    await services.store.record_turn(taken.conversation.id, [taken.message], outbox=outbox)
    taken.stored = True
    if outbox:
        services.outbox_due.set()
    await publish_message(services, taken.message, taken.conversation)


async def _ticket_note(services: Services, taken: _Taken) -> list[OutboxItem]:
    """What the customer writes after a helpdesk ticket was requested is added to it."""
    if not taken.conversation.metadata.get("helpdesk_ticket"):
        return []  # most conversations never request one: no look-up
    note = await ticket_note(services, taken.message)
    return [note[1]] if note is not None else []


async def set_status(
    services: Services, conversation_id: str, status: ConversationStatus, reason: str
) -> Conversation:
    """Change a conversation's status outside a customer turn (agents, timers, webhooks)."""
    async with conversation_lock(services, conversation_id):
        conversation = await services.store.set_status(conversation_id, status)
        await services.store.add_event(
            conversation.workspace_id,
            "conversation.status",
            {"status": status.value, "reason": reason},
            conversation_id=conversation_id,
        )
    await publish(services, conversation_id, {"type": "status", "status": status.value})
    await services.backplane.publish(
        *inbox_event(conversation.workspace_id, "status", conversation_id)
    )
    return conversation
