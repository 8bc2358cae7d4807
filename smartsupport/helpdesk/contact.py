"""The contact form: a customer nobody could answer live leaves an email and a question.

    widget shows the form     a bot message whose meta has ``form: "contact"`` (outside
                              business hours: ``handoff.rules.apply``; nobody free in time:
                              ``handoff.overflow``)
    submit_contact            the question is stored, the customer told what happens next,
                              and the details land somewhere a person will see them:
        helpdesk configured   a ticket (``tickets.request_ticket``, through the outbox)
        no helpdesk           an inbox conversation: the conversation joins the agents' queue
                              (``waiting_for_agent``) with the contact details on its card

A customer who sends the same form twice (a double click, a retry after a lost response)
gets the first answer back: the question is stored under a client id derived from the
email and the question, so nothing is stored, queued or announced twice. A different
second question is stored and, once the ticket exists, added to it as a note.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from smartsupport import messages
from smartsupport.domain import Author, Conversation, ConversationStatus, Message
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.fanout import announce, conversation_lock, publish, publish_message
from smartsupport.handoff.config import for_workspace
from smartsupport.helpdesk.tickets import EMAIL, reference_for, request_ticket, ticket_note
from smartsupport.outbox import enqueue
from smartsupport.services import Services


@dataclass(slots=True)
class ContactResult:
    reference: str  # what the customer can quote; the ticket's once the helpdesk has it
    messages: list[Message]  # the stored question and the confirmation
    ticket: bool  # True: a helpdesk ticket; False: the conversation went to the inbox
    replayed: bool  # the same form was sent before: nothing new was stored


def form_client_id(email: str, question: str) -> str:
    """The client id of a form's question: the same email and question give the same id."""
    digest = hashlib.sha256(f"{email.casefold()}\n{question}".encode()).hexdigest()
    return f"contact-{digest[:40]}"


def check_form(services: Services, email: str, question: str) -> tuple[str, str]:
    """The email and question, trimmed; InvalidInput names what to fix."""
    email, question = email.strip(), question.strip()
    if not EMAIL.match(email):
        raise InvalidInput("please give a valid email address", code="invalid_email")
    if not question:
        raise InvalidInput("please write your question", code="empty_question")
    if len(question) > services.settings.max_message_chars:
        raise InvalidInput("the question is too long", code="message_too_long")
    return email, question


async def submit_contact(
    services: Services,
    conversation_id: str,
    *,
    email: str,
    question: str,
    name: str | None = None,
    reason: str = "offline",
) -> ContactResult:
    """Store the customer's question and hand it to the helpdesk or the inbox (see module
    docstring). Returns the stored question and confirmation."""
    email, question = check_form(services, email, question)
    client_id = form_client_id(email, question)
    async with conversation_lock(services, conversation_id):
        conversation = await services.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"unknown conversation {conversation_id!r}")
        earlier = await services.store.get_message_by_client_id(conversation_id, client_id)
        if earlier is not None:
            answers = await services.store.replies_to(earlier.id)
            ticket = earlier.meta.get("handed_to") == "helpdesk"
            return ContactResult(reference_for(conversation_id), [earlier, *answers], ticket, True)
        workspace = services.workspace(conversation.workspace_id)
        ticket = for_workspace(workspace).helpdesk is not None
        if ticket:
            request = await request_ticket(
                services, conversation_id, reason=reason, email=email, name=name, question=question
            )
            reference = request.reference
        else:
            reference = reference_for(conversation_id)
            await _to_inbox(services, conversation, reason)
        asked = await services.store.append_message(
            conversation_id,
            Author.CUSTOMER,
            question,
            client_id=client_id,
            meta={"form": "contact", "handed_to": "helpdesk" if ticket else "inbox"},
        )
        if ticket:
            note = await ticket_note(services, asked)  # a second question, ticket made
            if note is not None:
                await enqueue(services.store, note[0], note[1])  # type: ignore[arg-type]
                services.outbox_due.set()
        language = messages.conversation_language(workspace, conversation.metadata)
        text = messages.text(
            workspace, "handoff.ticket_created", language, reference=reference, email=email
        )
        told = await services.store.append_message(
            conversation_id, Author.BOT, text, reply_to=asked.id, meta={"step": "ticket"}
        )
        await services.store.update_conversation_metadata(
            conversation_id,
            {"contact": {"email": email, "name": name}, "ticket_reference": reference},
        )
        await services.store.add_event(
            conversation.workspace_id,
            "ticket.requested" if ticket else "contact.queued",
            {"reason": reason, "reference": reference, "to": "helpdesk" if ticket else "inbox"},
            conversation_id=conversation_id,
        )
        for message in (asked, told):
            await publish_message(services, message, conversation)
    await announce(services, conversation.workspace_id, "contact", conversation_id)
    return ContactResult(reference, [asked, told], ticket, False)


async def _to_inbox(services: Services, conversation: Conversation, reason: str) -> None:
    """Without a helpdesk the agents' queue is where a person sees the details: a
    conversation the bot held (or a resolved one) starts waiting for an agent; one already
    waiting or with an agent stays where it is."""
    if conversation.status not in (ConversationStatus.BOT, ConversationStatus.RESOLVED):
        return
    why = f"contact form ({reason}): the customer left an email address"
    await services.store.set_status(conversation.id, ConversationStatus.WAITING)
    await services.store.add_event(
        conversation.workspace_id,
        "conversation.status",
        {"status": ConversationStatus.WAITING.value, "reason": why},
        conversation_id=conversation.id,
    )
    await publish(
        services, conversation.id, {"type": "status", "status": ConversationStatus.WAITING.value}
    )
