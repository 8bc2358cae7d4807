"""Media a customer sends on WhatsApp or through Twilio, downloaded from the provider the way
Meta and Twilio publish it (tests/messaging_fakes.py: GET /{media-id} then its URL with the
bearer token; a MediaUrl with Basic auth, redirected to a CDN that streams without a length),
stored as attachments, voice notes transcribed through a local server speaking OpenAI's
transcription format (tests/test_voice_notes.py), the size limit held while streaming, and a
provider failure kept as a note on the stored message, never a 500. The real services cannot
be reached from here."""

from __future__ import annotations

import hashlib

import pytest

from smartsupport import attachment_records
from smartsupport.channels import contacts
from smartsupport.domain import Author
from tests.messaging_fakes import GRAPH_PREFIX, twilio_inbound, wa_message, whatsapp_webhook
from tests.messagingkit import channel_secrets, running, settle, wait_for  # noqa: F401
from tests.test_voice_notes import OGG, TranscriptionServer

WA_ID = "16505551234"
NUMBER = "+15551234567"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"pixels" * 60
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 80


@pytest.fixture
def speech():
    server = TranscriptionServer()
    yield server
    server.close()


async def conversation_of(run, channel: str, address: str) -> str:
    contact = await contacts.find(run.services.store, "demo", channel, address)
    assert contact is not None, "the address has a conversation"
    return contact.conversation_id


def wa_media(kind: str, media_id: str, mime_type: str, **extra: object) -> dict:
    # The shape of Meta's "messages" webhook for media: id, mime_type, sha256 (base64).
    return wa_message(kind, {"mime_type": mime_type, "sha256": "c2hhMjU2", "id": media_id, **extra})


async def test_a_whatsapp_photo_without_caption_is_stored_as_an_attachment(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        media_id = run.fake.whatsapp_media(PNG, "image/png")
        body = whatsapp_webhook([wa_media("image", media_id, "image/png")])
        response = await run.whatsapp(body)
        assert response.status_code == 200, response.text
        assert response.json()["received"] == 1
        conversation_id = await conversation_of(run, "whatsapp", WA_ID)
        (said,) = [m for m in await run.messages(conversation_id) if m.author is Author.CUSTOMER]
        assert said.text.startswith("📎") and "[image]" not in said.text
        assert said.meta["media"][0]["id"] == media_id  # the provider's id is kept beside it
        (kept,) = await attachment_records.in_conversation(run.services, conversation_id)
        assert kept.kind == "image" and kept.source == "whatsapp" and kept.message_id == said.id
        assert await attachment_records.read(run.services, kept) == PNG
        assert run.fake.problems == []
        again = await run.whatsapp(body)  # Meta retries: nothing downloaded or stored again
        assert again.json()["duplicates"] == 1
        assert len(run.fake.media_requests) == 2  # the media URL, then the file, once
        assert len(await attachment_records.in_conversation(run.services, conversation_id)) == 1


async def test_a_whatsapp_voice_note_is_transcribed_and_answered(tmp_path, speech):
    speech.words[hashlib.sha256(OGG).hexdigest()] = "Where is my order ORD-10234?"
    provider = {"base_url": speech.url, "model": "whisper-1", "api_key": "sk-test"}
    async with running(tmp_path, speech_provider=provider) as run:
        media_id = run.fake.whatsapp_media(OGG, "audio/ogg; codecs=opus")
        body = whatsapp_webhook([wa_media("audio", media_id, "audio/ogg; codecs=opus", voice=True)])
        assert (await run.whatsapp(body)).status_code == 200
        (sent,) = speech.requests
        assert sent["file"]["data"] == OGG and sent["file"]["filename"] == "voice-note.ogg"
        conversation_id = await conversation_of(run, "whatsapp", WA_ID)
        assert await run.customer_texts(conversation_id) == ["Where is my order ORD-10234?"]
        (said,) = [m for m in await run.messages(conversation_id) if m.author is Author.CUSTOMER]
        assert said.meta["voice"]["transcribed"] is True
        assert said.meta["attachments"][0]["kind"] == "audio"
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the answer to the transcript")
        replies = " ".join(m["text"]["body"] for m in run.fake.texts_to(WA_ID) if "text" in m)
        assert "email" in replies.lower()  # the demo's order flow asks for the email


async def test_a_whatsapp_voice_note_without_a_speech_provider_gets_cannot_listen(tmp_path):
    async with running(tmp_path) as run:
        media_id = run.fake.whatsapp_media(OGG, "audio/ogg; codecs=opus")
        body = whatsapp_webhook([wa_media("audio", media_id, "audio/ogg; codecs=opus", voice=True)])
        assert (await run.whatsapp(body)).status_code == 200
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the cannot-listen answer")
        (reply,) = run.fake.texts_to(WA_ID)
        assert reply["type"] == "interactive"  # the "talk to a person" button
        assert "can't listen" in reply["interactive"]["body"]["text"]


async def test_a_twilio_mms_photo_is_stored_and_its_caption_answered_once(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        url = run.fake.twilio_media(JPEG, "image/jpeg")
        params = twilio_inbound(
            "Is this the right part?", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg"
        )
        response = await run.twilio("sms", params)
        assert response.status_code == 204, response.text
        conversation_id = await conversation_of(run, "sms", NUMBER)
        assert await run.customer_texts(conversation_id) == ["Is this the right part?"]
        (kept,) = await attachment_records.in_conversation(run.services, conversation_id)
        assert kept.kind == "image" and kept.source == "sms"
        assert await attachment_records.read(run.services, kept) == JPEG
        assert any(p.startswith("/twilio-cdn/") for p in run.fake.media_requests)
        await wait_for(lambda: run.fake.sms_to(NUMBER), what="the answer to the caption")
        await settle(run.services)
        bot = [m for m in await run.messages(conversation_id) if m.author is Author.BOT]
        assert bot and all(m.reply_to for m in bot[-1:])


async def test_media_over_the_limit_is_refused_while_streaming_and_the_message_kept(tmp_path):
    async with running(tmp_path, attachment_max_bytes=2048) as run:
        big = JPEG * 10  # 8 KB
        params = twilio_inbound(
            "", NumMedia="1", MediaUrl0=run.fake.twilio_media(big, "image/jpeg"),
            MediaContentType0="image/jpeg",
        )  # fmt: skip
        assert (await run.twilio("sms", params)).status_code == 204
        conversation_id = await conversation_of(run, "sms", NUMBER)
        (said,) = [m for m in await run.messages(conversation_id) if m.author is Author.CUSTOMER]
        assert said.text == "[image]"
        (problem,) = said.meta["media_problems"]
        assert "refused" in problem["problem"] and "2048" in problem["problem"]
        assert await attachment_records.in_conversation(run.services, conversation_id) == []
        media_id = run.fake.whatsapp_media(big, "image/jpeg")  # Meta names file_size first
        response = await run.whatsapp(whatsapp_webhook([wa_media("image", media_id, "image/jpeg")]))
        assert response.status_code == 200 and response.json()["received"] == 1
        assert not any("attachments" in p for p in run.fake.media_requests)


async def test_a_provider_download_failure_keeps_the_message_with_a_note(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        media_id = run.fake.whatsapp_media(PNG, "image/png")
        run.fake.fail(500, path_prefix=f"{GRAPH_PREFIX}/{media_id}")
        message = wa_media("image", media_id, "image/png", caption="Is this damaged?")
        body = whatsapp_webhook([message])
        response = await run.whatsapp(body)
        assert response.status_code == 200 and response.json()["received"] == 1
        conversation_id = await conversation_of(run, "whatsapp", WA_ID)
        (said,) = [m for m in await run.messages(conversation_id) if m.author is Author.CUSTOMER]
        assert said.text == "Is this damaged?"
        (problem,) = said.meta["media_problems"]
        assert (
            problem["problem"]
            == f"not downloaded from WhatsApp: whatsapp media {media_id}: HTTP 500"
        )
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the answer to the caption")
        assert (await run.whatsapp(body)).json()["duplicates"] == 1
