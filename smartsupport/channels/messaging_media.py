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

There is no later retry of a failed download: WhatsApp's and Twilio's retries of the same
webhook find the stored message id and change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from smartsupport import attachment_records
from smartsupport.channels import media_download
from smartsupport.channels.media_download import Downloaded, MediaUnavailable
from smartsupport.channels.media_inbound import receive_media
from smartsupport.channels.messaging_config import twilio_config, whatsapp_config
from smartsupport.conversation import handle_message
from smartsupport.domain import IncomingMessage, TurnResult
from smartsupport.errors import InvalidInput, TooLarge
from smartsupport.services import Services

log = logging.getLogger(__name__)
DOWNLOAD_SECONDS = 10.0  # all files of one message; Twilio gives a webhook 15 s in all
PLACEHOLDERS = frozenset(
    {"[image]", "[voice message]", "[video]", "[document]", "[sticker]", "[media]"}
)
PROVIDER = {"whatsapp": "WhatsApp", "sms": "Twilio", "twilio_whatsapp": "Twilio"}


@dataclass(slots=True)
class _File:
    media: dict[str, Any]
    downloaded: Downloaded | None = None
    problem: str | None = None


async def _fetch(
    services: Services, workspace_id: str, channel: str, media: dict[str, Any]
) -> Downloaded:
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
    files = [_File(m) for m in media if isinstance(m, dict)]
    deadline = asyncio.get_running_loop().time() + DOWNLOAD_SECONDS
    for file in files:
        try:
            async with asyncio.timeout_at(deadline):
                file.downloaded = await _fetch(services, workspace_id, channel, file.media)
        except TooLarge as exc:
            file.problem = f"refused: {exc.message}"
        except MediaUnavailable as exc:
            file.problem = f"not downloaded from {PROVIDER.get(channel, channel)}: {exc}"
        except TimeoutError:
            file.problem = f"not downloaded from {PROVIDER.get(channel, channel)}: timed out"
    return files


def _filename(file: _File) -> str:
    assert file.downloaded is not None
    found = attachment_records.sniff(file.downloaded.data)
    extension = found.extension if found else "bin"
    if file.media.get("filename"):
        return str(file.media["filename"])
    kind = str(file.media.get("kind") or file.downloaded.content_type.split("/")[0] or "file")
    name = "voice-note" if file.media.get("voice") or kind == "audio" else kind
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
    if message.client_id and await store.get_message_by_client_id(
        message.conversation_id, message.client_id
    ):
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
                filename=_filename(file),
                source=channel,
                client_id=message.client_id if first is None else _nth(message.client_id, index),
                caption=caption if first is None else "",
                kinds=None,
            )
        except (TooLarge, InvalidInput) as exc:  # an empty file: nothing to keep
            file.problem = f"refused: {exc.message}"
            continue
        first = first or result
    problems = [
        {"kind": f.media.get("kind") or f.media.get("content_type"), "problem": f.problem}
        for f in files
        if f.problem
    ]
    for problem in problems:
        log.warning("%s media of a message to %s %s", channel, workspace_id, problem["problem"])
    if first is None:  # nothing kept: the message as it came, with why
        result = await handle_message(services, message)
        if not result.duplicate:
            meta = {**message.metadata, "media_problems": problems}
            await store.update_message_meta(result.message.id, meta)
        return result
    meta = {**message.metadata, **({"media_problems": problems} if problems else {})}
    await store.update_message_meta(first.message.id, meta)
    return first
