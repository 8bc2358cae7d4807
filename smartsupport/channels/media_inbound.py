"""A file a customer sends (a widget upload, a voice note; WhatsApp and SMS media the same
way) through the conversation path.

    receive_media(services, conversation_id, data, filename=..., source=...)
      replay        a client_id already stored: the earlier result, nothing stored again
      keep          attachment_records.keep: type sniffed from the bytes, size limit, the file
                    stored once per content hash, its row
      voice note    audio is transcribed (SMARTSUPPORT_SPEECH_PROVIDER); the transcript is the
                    customer's message and goes through handle_message like typed text
      with text     a caption goes through handle_message, the file listed on the message
      file only     stored and shown, no automatic answer (a photo alone asks nothing; the
                    customer or an agent says what it is about)
      unheard       audio nobody could transcribe: stored, and while the assistant holds the
                    conversation it says, in the customer's language, that it cannot listen
                    to audio and offers a person (message key ``voice.cannot_listen``)

Every stored message is published like the conversation path does, and a channel that sends
replies itself gets its outbox work in the same transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from smartsupport import attachment_records, messages
from smartsupport.attachment_records import AUDIO, UPLOAD_KINDS, Attachment
from smartsupport.channels import channel_for
from smartsupport.consent import require_consent
from smartsupport.conversation import handle_message
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    IncomingMessage,
    Message,
    TurnResult,
)
from smartsupport.errors import NotFound, TranscriptionError
from smartsupport.fanout import conversation_lock, publish_message
from smartsupport.ids import new_id
from smartsupport.services import Services

log = logging.getLogger(__name__)
FILE_MARK, VOICE_MARK = "📎", "🎤"


async def receive_media(
    services: Services,
    conversation_id: str,
    data: bytes,
    *,
    filename: str | None,
    source: str,
    client_id: str | None = None,
    caption: str = "",
    kinds: frozenset[str] | None = UPLOAD_KINDS,
    max_bytes: int | None = None,
) -> TurnResult:
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"unknown conversation {conversation_id!r}")
    if client_id is not None:
        seen = await services.store.get_message_by_client_id(conversation_id, client_id)
        if seen is not None:
            replies = await services.store.replies_to(seen.id)
            return TurnResult(seen, replies, conversation, duplicate=True)
    if conversation.channel == "web":  # the widget asks for consent first (consent.py)
        require_consent(services.workspace(conversation.workspace_id), conversation)
    attachment = await attachment_records.keep(
        services,
        workspace_id=conversation.workspace_id,
        conversation_id=conversation_id,
        data=data,
        filename=filename,
        source=source,
        kinds=kinds,
        max_bytes=max_bytes,
    )
    listed: dict[str, Any] = {"attachments": [attachment.descriptor()]}
    text = caption.strip()
    if attachment.kind == AUDIO and not text:
        heard = await _transcript(services, conversation, attachment, data)
        if heard is None:
            result = await _unheard(services, conversation, attachment, client_id)
            await attachment_records.link(
                services, [attachment.id], conversation_id, result.message.id
            )
            return result
        text, listed["voice"] = heard
    if not text:
        result = await _store_only(
            services, conversation, f"{FILE_MARK} {attachment.filename}", listed, client_id, []
        )
    else:
        incoming = IncomingMessage(
            conversation_id, text, client_id, channel=conversation.channel, metadata=listed
        )
        result = await handle_message(services, incoming)
    await attachment_records.link(services, [attachment.id], conversation_id, result.message.id)
    return result


async def _transcript(
    services: Services, conversation: Conversation, attachment: Attachment, data: bytes
) -> tuple[str, dict[str, Any]] | None:
    """The words of a voice note and how they were heard; None when nobody can say."""
    try:
        return await hear(services, conversation, attachment, data)
    except TranscriptionError as exc:
        log.warning("voice note %s not transcribed: %s", attachment.id, exc)
        return None


async def hear(
    services: Services, conversation: Conversation, attachment: Attachment, data: bytes
) -> tuple[str, dict[str, Any]] | None:
    """The words of a voice note (cut to the message limit) and its ``meta.voice``; None
    without a speech provider or words; TranscriptionError when the server failed (a voice
    note fetched late, media_retry.py, asks again later when that is worth it)."""
    if services.speech is None:
        return None
    workspace = services.workspace(conversation.workspace_id)
    language = messages.conversation_language(workspace, conversation.metadata)
    heard = await services.speech.transcribe(
        data, attachment.filename, attachment.content_type, language
    )
    if not heard.text:
        return None
    return heard.text[: services.settings.max_message_chars], {
        "transcribed": True,
        "language": heard.language,
    }


async def _unheard(
    services: Services, conversation: Conversation, attachment: Attachment, client_id: str | None
) -> TurnResult:
    workspace = services.workspace(conversation.workspace_id)
    language = messages.conversation_language(workspace, conversation.metadata)
    replies = []
    # A person holding the conversation listens to it themselves: the assistant stays silent.
    if conversation.status in (ConversationStatus.BOT, ConversationStatus.RESOLVED):
        replies.append(
            (
                messages.text(workspace, "voice.cannot_listen", language),
                {
                    "step": "voice_unheard",
                    "language": language,
                    "quick_replies": [messages.text(workspace, "handoff.offer_button", language)],
                },
            )
        )
    meta = {"attachments": [attachment.descriptor()], "voice": {"transcribed": False}}
    return await _store_only(
        services, conversation, f"{VOICE_MARK} {attachment.filename}", meta, client_id, replies
    )


async def _store_only(
    services: Services,
    conversation: Conversation,
    text: str,
    meta: dict[str, Any],
    client_id: str | None,
    replies: list[tuple[str, dict[str, Any]]],
) -> TurnResult:
    """The customer's file message (and our own replies, if any) in one transaction under
    the conversation's lock, then published; no understanding, no decision."""
    message = Message(
        id=new_id(),
        conversation_id=conversation.id,
        seq=0,
        author=Author.CUSTOMER,
        text=text,
        client_id=client_id,
        meta={"channel": conversation.channel, **meta},
    )
    answers = [
        Message(
            id=new_id(),
            conversation_id=conversation.id,
            seq=0,
            author=Author.BOT,
            text=reply,
            reply_to=message.id,
            meta=reply_meta,
        )
        for reply, reply_meta in replies
    ]
    async with conversation_lock(services, conversation.id):
        outbox = channel_for(conversation.channel).deliveries(conversation, answers)
        stored = await services.store.record_turn(
            conversation.id,
            [message, *answers],
            events=[("attachment.received", {"kind": meta["attachments"][0]["kind"]})],
            outbox=outbox,
        )
    if outbox:
        services.outbox_due.set()
    for item in (message, *answers):
        await publish_message(services, item)
    return TurnResult(message, answers, stored)
