"""A customer's WhatsApp or Twilio file whose download failed in a way worth repeating,
fetched again by the outbox (kind ``media.fetch``, queued by ``messaging_media.receive``)
and attached to the message that was stored without it.

    deliver(services, entry)          the outbox handler of one file of one message
      find          the message by its provider id; its ``media_problems`` entry for this
                    file still waiting (``queued``, or ``gave up`` when an admin requeues
                    the row); otherwise nothing to do (fetched already, or erased)
      download      ``messaging_media.fetch`` again from the ids kept on the message: a
                    WhatsApp media id is asked for a fresh URL every time (Meta's URLs are
                    valid for five minutes), Twilio's MediaUrl with Basic auth
      keep          under the conversation's lock: ``attachment_records.keep`` like a first
                    download (type sniffed, size limit, sealed at rest when encryption is
                    on, one file per content hash), listed in ``meta.attachments``, the
                    problem marked ``fetched`` with the attachment's id
      publish       the message again, same ``seq``, now listing the file: the inbox
                    replaces the one it shows (inbox.js ``addMessage``)
      voice note    audio on a message with no words of the customer's own (``[voice
                    message]``) is transcribed and the transcript goes through the
                    conversation path as the customer's next message (client_id
                    ``<the message's>:voice<n>``, ``meta.voice.late``), answered like a voice
                    note that came on time (media_inbound.py): while the assistant holds the
                    conversation, in the language it was heard in. The problem's ``voice``
                    says where that is: ``pending`` (kept with the file, so a run cut short
                    after keeping it still hears it), ``answered`` (with the message's id) or
                    ``unheard`` (no speech provider, no words, or the server kept failing: the
                    file stays listed for a person). A speech server failure worth repeating
                    goes back to the outbox like a failed download.

A retryable failure goes back to the outbox, which waits with its one backoff (the
provider's ``Retry-After`` honoured) until ``outbox_max_age_hours``; the last attempt, and
any failure not worth repeating (404, too large, an empty file), records why on the problem
(``"retry": "gave up"``) and leaves a dead letter an admin can requeue. Other files are not
answered: the customer's turn was answered when the message came.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from smartsupport import attachment_records
from smartsupport.attachment_records import AUDIO
from smartsupport.channels.media_download import Downloaded, MediaUnavailable
from smartsupport.channels.media_inbound import FILE_MARK, VOICE_MARK, hear
from smartsupport.channels.messaging_media import PLACEHOLDERS, PROVIDER, QUEUED, fetch, filename
from smartsupport.conversation import handle_message
from smartsupport.domain import IncomingMessage, Message, utcnow
from smartsupport.errors import DeliveryError, InvalidInput, TooLarge, TranscriptionError
from smartsupport.fanout import conversation_lock, publish_message
from smartsupport.outbox import Entry
from smartsupport.services import Services

log = logging.getLogger(__name__)
KIND = "media.fetch"
WAITING = frozenset({QUEUED, "gave up"})
# One attempt's bound: within the outbox's lease (120 s), so no other worker takes it over.
ATTEMPT_SECONDS = 60.0


def _problem(message: Message, index: int) -> dict[str, Any] | None:
    """This file's entry in ``meta.media_problems``."""
    for problem in message.meta.get("media_problems") or []:
        if isinstance(problem, dict) and problem.get("media") == index:
            return problem
    return None


def _waiting(message: Message, index: int) -> dict[str, Any] | None:
    problem = _problem(message, index)
    return problem if problem is not None and problem.get("retry") in WAITING else None


def _to_hear(message: Message | None, index: int) -> bool:
    """Whether this file is a voice note kept but not yet through the conversation path."""
    problem = _problem(message, index) if message is not None else None
    return problem is not None and problem.get("voice") == "pending"


def _with(message: Message, index: int, **changes: Any) -> list[dict[str, Any]]:
    """``meta.media_problems`` with this file's entry changed."""
    return [
        {**p, **changes} if isinstance(p, dict) and p.get("media") == index else p
        for p in message.meta.get("media_problems") or []
    ]


async def _message(services: Services, payload: dict[str, Any]) -> Message | None:
    return await services.store.get_message_by_client_id(
        str(payload["conversation_id"]), str(payload["client_id"])
    )


def _wordless(message: Message) -> bool:
    """Whether the message has no words of the customer's own (a voice note alone): its
    audio, once fetched, is what the customer said."""
    text = message.text.strip()
    return text in PLACEHOLDERS or text.startswith((FILE_MARK, VOICE_MARK))


async def deliver(services: Services, entry: Entry) -> dict[str, Any]:
    payload, index = entry.payload, int(entry.payload["media"])
    channel = str(payload["channel"])
    message = await _message(services, payload)
    if message is not None and _to_hear(message, index):  # kept by a run cut short
        return await _hear(services, entry, message, index)
    if message is None or _waiting(message, index) is None:
        return {"skipped": "nothing to fetch (fetched already, or the message is gone)"}
    attempts = entry.attempts + 1
    media = message.meta["media"][index]
    try:
        async with asyncio.timeout(ATTEMPT_SECONDS):
            downloaded = await fetch(services, entry.workspace_id, channel, media)
    except TooLarge as exc:
        await _give_up(services, payload, index, f"refused: {exc.message}", attempts)
        raise DeliveryError(f"media {index}: {exc.message}") from exc
    except (MediaUnavailable, TimeoutError) as exc:
        why = str(exc) if isinstance(exc, MediaUnavailable) else "timed out"
        retryable = not isinstance(exc, MediaUnavailable) or exc.retryable
        max_age = timedelta(hours=services.settings.outbox_max_age_hours)
        if not retryable or utcnow() - entry.created_at >= max_age:
            problem = f"not downloaded from {PROVIDER.get(channel, channel)}: {why}"
            await _give_up(services, payload, index, problem, attempts)
            raise DeliveryError(f"media {index}: {why}") from exc
        retry_after = exc.retry_after if isinstance(exc, MediaUnavailable) else None
        raise DeliveryError(
            f"media {index}: {why}", retryable=True, retry_after=retry_after
        ) from exc
    kept = await _attach(services, entry.workspace_id, payload, index, downloaded, attempts)
    if not kept:
        return {"skipped": "fetched by another attempt"}
    message = await _message(services, payload)
    if message is not None and _to_hear(message, index):
        return {"attachment_id": kept, **await _hear(services, entry, message, index)}
    return {"attachment_id": kept}


async def _attach(
    services: Services,
    workspace_id: str,
    payload: dict[str, Any],
    index: int,
    downloaded: Downloaded,
    attempts: int,
) -> str | None:
    """Keep the file and list it on the message, once, under the conversation's lock."""
    conversation_id = str(payload["conversation_id"])
    async with conversation_lock(services, conversation_id):
        message = await _message(services, payload)
        if message is None or _waiting(message, index) is None:
            return None
        media = message.meta["media"][index]
        try:
            attachment = await attachment_records.keep(
                services,
                workspace_id=workspace_id,
                conversation_id=conversation_id,
                data=downloaded.data,
                filename=filename(media, downloaded),
                source=str(payload["channel"]),
                kinds=None,  # channel media is kept whatever its type, as a first download
                message_id=message.id,
            )
        except InvalidInput as exc:  # an empty file: nothing to keep, ever
            await _mark_given_up(services, message, index, f"refused: {exc.message}", attempts)
            raise DeliveryError(f"media {index}: {exc.message}") from exc
        voice = {"voice": "pending"} if attachment.kind == AUDIO and _wordless(message) else {}
        changes = {
            "attachments": [*(message.meta.get("attachments") or []), attachment.descriptor()],
            "media_problems": _with(
                message,
                index,
                retry="fetched",
                attempts=attempts,
                attachment=attachment.id,
                **voice,
            ),
        }
        await services.store.update_message_meta(message.id, changes)
        message.meta.update(changes)
    log.info("%s media %d of message %s fetched on attempt %d", payload["channel"], index,
             message.id, attempts)  # fmt: skip
    await publish_message(services, message)
    return attachment.id


async def _give_up(
    services: Services, payload: dict[str, Any], index: int, problem: str, attempts: int
) -> None:
    async with conversation_lock(services, str(payload["conversation_id"])):
        message = await _message(services, payload)
        if message is None or _waiting(message, index) is None:
            return
        await _mark_given_up(services, message, index, problem, attempts)
    log.warning("%s media %d of message %s not fetched: %s", payload["channel"], index,
                message.id, problem)  # fmt: skip


async def _mark_given_up(
    services: Services, message: Message, index: int, problem: str, attempts: int
) -> None:
    """Why this file will not be fetched (the caller holds the conversation's lock)."""
    problems = _with(message, index, retry="gave up", attempts=attempts, problem=problem)
    await services.store.update_message_meta(message.id, {"media_problems": problems})


async def _hear(services: Services, entry: Entry, message: Message, index: int) -> dict[str, Any]:
    """The voice note fetched late, transcribed and through the conversation path as the
    customer's message (see the module docstring)."""
    conversation = await services.store.get_conversation(message.conversation_id)
    problem = _problem(message, index) or {}
    attachment = await attachment_records.find(services, str(problem.get("attachment")))
    if conversation is None or attachment is None:
        return {"voice": "skipped: the conversation or the file is gone"}
    try:
        heard = await hear(
            services, conversation, attachment, await attachment_records.read(services, attachment)
        )
    except TranscriptionError as exc:
        max_age = timedelta(hours=services.settings.outbox_max_age_hours)
        if exc.retryable and utcnow() - entry.created_at < max_age:
            raise DeliveryError(
                f"voice note {attachment.id}: {exc}", retryable=True, retry_after=exc.retry_after
            ) from exc
        log.warning("voice note %s fetched late, not transcribed: %s", attachment.id, exc)
        heard = None
    if heard is None:
        await _mark_voice(services, message, index, "unheard")
        return {"voice": "unheard"}
    text, voice = heard
    incoming = IncomingMessage(
        message.conversation_id,
        text,
        f"{message.client_id}:voice{index}",
        channel=conversation.channel,
        metadata={"voice": {**voice, "late": True, "message_id": message.id}},
    )
    result = await handle_message(services, incoming)
    await _mark_voice(services, message, index, "answered", result.message.id)
    log.info("voice note %s fetched late: transcribed, message %s", attachment.id,
             result.message.id)  # fmt: skip
    return {"voice": "answered", "message_id": result.message.id}


async def _mark_voice(
    services: Services, message: Message, index: int, state: str, said: str | None = None
) -> None:
    async with conversation_lock(services, message.conversation_id):
        found = await services.store.get_message_by_client_id(
            message.conversation_id, str(message.client_id)
        )
        if found is None:
            return
        extra = {"transcript": said} if said else {}
        problems = _with(found, index, voice=state, **extra)
        await services.store.update_message_meta(found.id, {"media_problems": problems})
