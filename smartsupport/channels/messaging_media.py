"""Media a customer sends on WhatsApp or through Twilio (SMS/MMS, WhatsApp), downloaded from
the provider and handed to ``media_inbound.receive_media``: the file is stored as an
attachment, a voice note is transcribed (or answered with "cannot listen" in the customer's
language), and the customer's caption goes through the conversation path once.

    receive(services, workspace_id, channel, message)
      duplicate     the provider's message id is stored already: the earlier result, nothing
                    downloaded again (a webhook retried after a timeout)
      download      every file within DOWNLOAD_SECONDS in all, the size limit
                    (SMARTSUPPORT_ATTACHMENT_MAX_BYTES) enforced while the bytes arrive:
                    the webhook is answered in the request, so a slow provider cannot hold
                    it past the provider's own timeout (Twilio waits 15 s)
      files         the first file carries the caption and the provider's message id; more
                    files (Twilio sends up to ten) are stored as their own messages
      failure       nothing could be downloaded (an error, a timeout, too large): the
                    message is still stored through the conversation path as before (its
                    caption, else "[image]"), with ``meta.media_problems`` saying why, and a
                    log line; the webhook still answers 200/204
      retry         a failure worth repeating (timeout, broken connection, a status in
                    ``remote.RETRYABLE_STATUSES``) is marked ``"retry": "queued"`` on its
                    problem and a ``media.fetch`` outbox row fetches it later and attaches
                    it to the stored message (``media_retry.py``); 404, too large, empty: not

WhatsApp's and Twilio's retries of the same webhook find the stored message id and change
nothing, except that the retries the message needs are queued again (idempotent on their
key), in case the process stopped between storing the message and queuing them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from smartsupport import attachment_records, outbox
from smartsupport.channels import media_download
from smartsupport.channels.media_download import Downloaded, MediaUnavailable
from smartsupport.channels.media_inbound import receive_media
from smartsupport.channels.messaging_config import twilio_config, whatsapp_config
from smartsupport.conversation import handle_message
from smartsupport.domain import IncomingMessage, Message, OutboxItem, TurnResult, utcnow
from smartsupport.errors import InvalidInput, TooLarge
from smartsupport.services import Services

log = logging.getLogger(__name__)
DOWNLOAD_SECONDS = 10.0  # all files of one message; Twilio gives a webhook 15 s in all
PLACEHOLDERS = frozenset(
    {"[image]", "[voice message]", "[video]", "[document]", "[sticker]", "[media]"}
)
PROVIDER = {"whatsapp": "WhatsApp", "sms": "Twilio", "twilio_whatsapp": "Twilio"}
RETRY_KIND = "media.fetch"  # the outbox kind of a download fetched again (media_retry.py)
QUEUED = "queued"  # a problem's ``retry`` while the outbox fetches it again


@dataclass(slots=True)
class _File:
    media: dict[str, Any]
    index: int  # its place in ``meta.media``, which a later retry reads it from
    downloaded: Downloaded | None = None
    problem: str | None = None
    retryable: bool = False

    def note(self) -> dict[str, Any]:
        """Its entry in ``meta.media_problems``."""
        kind = self.media.get("kind") or self.media.get("content_type")
        retry = {"media": self.index, "retry": QUEUED} if self.retryable else {}
        return {"kind": kind, "problem": self.problem, **retry}


async def fetch(
    services: Services, workspace_id: str, channel: str, media: dict[str, Any]
) -> Downloaded:
    """One file of a message from its provider (a WhatsApp media id is asked for a fresh
    URL every time). TooLarge over the limit; MediaUnavailable otherwise."""
    limit = services.settings.attachment_max_bytes
    workspace = services.workspace(workspace_id)
    if channel == "whatsapp":
        config = whatsapp_config(workspace)
        if config is None or not media.get("id"):
            raise MediaUnavailable("no WhatsApp section or media id")
        return await media_download.whatsapp_media(
            config.api_url,
            config.phone_number_id,
            config.access_token.get_secret_value(),
            str(media["id"]),
            limit,
        )
    twilio = twilio_config(workspace)
    if twilio is None or not media.get("url"):
        raise MediaUnavailable("no Twilio section or media URL")
    return await media_download.twilio_media(
        twilio.api_url,
        twilio.account_sid,
        twilio.auth_token.get_secret_value(),
        str(media["url"]),
        limit,
    )


async def _download_all(
    services: Services, workspace_id: str, channel: str, media: list[dict[str, Any]]
) -> list[_File]:
    files = [_File(m, i) for i, m in enumerate(media) if isinstance(m, dict)]
    deadline = asyncio.get_running_loop().time() + DOWNLOAD_SECONDS
    for file in files:
        try:
            async with asyncio.timeout_at(deadline):
                file.downloaded = await fetch(services, workspace_id, channel, file.media)
        except TooLarge as exc:
            file.problem = f"refused: {exc.message}"
        except MediaUnavailable as exc:
            file.problem = f"not downloaded from {PROVIDER.get(channel, channel)}: {exc}"
            file.retryable = exc.retryable
        except TimeoutError:
            file.problem = f"not downloaded from {PROVIDER.get(channel, channel)}: timed out"
            file.retryable = True
    return files


def filename(media: dict[str, Any], downloaded: Downloaded) -> str:
    """The name a downloaded file is kept under: the customer's, else its kind."""
    found = attachment_records.sniff(downloaded.data)
    extension = found.extension if found else "bin"
    if media.get("filename"):
        return str(media["filename"])
    kind = str(media.get("kind") or downloaded.content_type.split("/")[0] or "file")
    name = "voice-note" if media.get("voice") or kind == "audio" else kind
    return f"{name}.{extension}"


def _nth(client_id: str | None, index: int) -> str | None:
    """The id of a message's second, third... file (a Twilio MMS has up to ten)."""
    return f"{client_id}:media{index}" if client_id else None


async def receive(
    services: Services, workspace_id: str, channel: str, message: IncomingMessage
) -> TurnResult:
    """``message`` (parsed from a provider's webhook, ``metadata["media"]`` set) through
    the conversation path with its files."""
    store = services.store
    if message.client_id and (
        seen := await store.get_message_by_client_id(message.conversation_id, message.client_id)
    ):
        await queue_retries(services, workspace_id, channel, seen)
        return await handle_message(services, message)  # the earlier result, as a duplicate
    files = await _download_all(services, workspace_id, channel, message.metadata["media"])
    caption = "" if message.text.strip() in PLACEHOLDERS else message.text
    first: TurnResult | None = None
    for index, file in enumerate(files):
        if file.downloaded is None:
            continue
        try:
            result = await receive_media(
                services,
                message.conversation_id,
                file.downloaded.data,
                filename=filename(file.media, file.downloaded),
                source=channel,
                client_id=message.client_id if first is None else _nth(message.client_id, index),
                caption=caption if first is None else "",
                kinds=None,
            )
        except (TooLarge, InvalidInput) as exc:  # an empty file: nothing to keep
            file.problem = f"refused: {exc.message}"
            continue
        first = first or result
    for file in files:
        file.retryable = file.retryable and file.problem is not None and bool(message.client_id)
    problems = [f.note() for f in files if f.problem]
    for problem in problems:
        log.warning("%s media of a message to %s %s", channel, workspace_id, problem["problem"])
    if first is None:  # nothing kept: the message as it came, with why
        result = await handle_message(services, message)
        if not result.duplicate:
            meta = {**message.metadata, "media_problems": problems}
            await store.update_message_meta(result.message.id, meta)
            result.message.meta.update(meta)
            await queue_retries(services, workspace_id, channel, result.message)
        return result
    meta = {**message.metadata, **({"media_problems": problems} if problems else {})}
    await store.update_message_meta(first.message.id, meta)
    first.message.meta.update(meta)
    await queue_retries(services, workspace_id, channel, first.message)
    return first


async def queue_retries(
    services: Services, workspace_id: str, channel: str, message: Message
) -> int:
    """A ``media.fetch`` outbox row for each file of ``message`` whose download is still
    to be retried; idempotent on (message, file), so a replayed webhook adds nothing."""
    added = 0
    for problem in message.meta.get("media_problems") or []:
        if not isinstance(problem, dict) or problem.get("retry") != QUEUED:
            continue
        index = int(problem["media"])
        item = OutboxItem(
            kind=RETRY_KIND,
            # Ids only: the media's URL stays on the message, read at each attempt.
            payload={
                "conversation_id": message.conversation_id,
                "client_id": message.client_id,
                "channel": channel,
                "media": index,
            },
            idempotency_key=f"{RETRY_KIND}:{message.id}:{index}",
            # It has just failed: the first retry waits like any outbox retry after one failure.
            not_before=utcnow() + timedelta(seconds=outbox.backoff(1)),
        )
        added += await outbox.enqueue(services.store, workspace_id, item)  # type: ignore[arg-type]
    if added:
        services.outbox_due.set()
    return added
