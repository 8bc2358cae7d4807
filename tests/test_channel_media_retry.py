"""A customer's WhatsApp or Twilio file whose download failed in a way worth repeating (503,
timeouts) is fetched again through the outbox and attached to the message stored without it;
a voice note fetched late is transcribed and answered like one that came on time; a 404 is
not retried; the last attempt records why. Against tests/messaging_fakes.py, which
serves media in Meta's (GET /{media-id} for a short-lived URL, then the URL) and Twilio's
(MediaUrl, Basic auth, a redirect to the CDN) published formats, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import pytest

from smartsupport import attachment_records, outbox
from smartsupport.domain import Author, Message, utcnow
from smartsupport.wire import conversation_channel
from tests.inboxkit import Harness
from tests.messaging_fakes import GRAPH_PREFIX, twilio_inbound, whatsapp_webhook
from tests.messagingkit import Running, channel_secrets, running, wait_for  # noqa: F401
from tests.test_channel_media import JPEG, NUMBER, PNG, WA_ID, conversation_of, wa_media
from tests.test_voice_notes import OGG, TranscriptionServer

LATER = timedelta(hours=1)  # past any backoff of the first tries, well within the max age


async def customer_message(run: Running, conversation_id: str) -> Message:
    (said,) = [m for m in await run.messages(conversation_id) if m.author is Author.CUSTOMER]
    return said


async def retries(run: Running) -> list[outbox.Entry]:
    entries = await outbox.list_entries(run.services.store)  # type: ignore[arg-type]
    return [e for e in entries if e.kind == "media.fetch"]


async def run_retries_until(run: Running, done: Any, rounds: int = 6) -> None:
    """Run the due retries with a clock one more hour ahead each round (no waiting for the
    backoff), until ``done()``; the app's own worker may take some, which changes nothing."""
    for round in range(1, rounds + 1):
        if await done():
            return
        await outbox.run_due(run.services, now=utcnow() + LATER * round)
        await asyncio.sleep(0.05)
    assert await done(), "the retries did not finish"


async def test_a_whatsapp_photo_failing_twice_with_503_is_attached_once(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        media_id = run.fake.whatsapp_media(PNG, "image/png")
        run.fake.fail(503, times=2, path_prefix=f"{GRAPH_PREFIX}/{media_id}")
        body = whatsapp_webhook([wa_media("image", media_id, "image/png")])
        response = await run.whatsapp(body)
        assert response.status_code == 200 and response.json()["received"] == 1
        conversation_id = await conversation_of(run, "whatsapp", WA_ID)
        said = await customer_message(run, conversation_id)
        assert said.text == "[image]" and "attachments" not in said.meta
        (problem,) = said.meta["media_problems"]
        assert problem["retry"] == "queued" and "HTTP 503" in problem["problem"]
        (entry,) = await retries(run)
        assert entry.payload == {
            "conversation_id": conversation_id, "client_id": said.client_id,
            "channel": "whatsapp", "media": 0,
        }  # fmt: skip  # ids only: no URL or token in the outbox
        updates = await run.services.backplane.subscribe(conversation_channel(conversation_id))

        async def attached() -> bool:
            found = await customer_message(run, conversation_id)
            return bool(found.meta.get("attachments"))

        await run_retries_until(run, attached)
        said = await customer_message(run, conversation_id)
        (listed,) = said.meta["attachments"]
        (kept,) = await attachment_records.in_conversation(run.services, conversation_id)
        assert listed["id"] == kept.id and kept.message_id == said.id and kept.kind == "image"
        assert await attachment_records.read(run.services, kept) == PNG
        (problem,) = said.meta["media_problems"]
        assert problem["retry"] == "fetched" and problem["attempts"] == 2
        assert problem["attachment"] == kept.id
        # Meta's media URL is short-lived: each try asked for a fresh one by the media id.
        asked = [p for p in run.fake.media_requests if p.startswith(GRAPH_PREFIX)]
        assert len(asked) == 3 and run.fake.problems == []
        # The inbox and widget hear of the change: the same message, same seq, with its file.
        event = await asyncio.wait_for(anext(aiter(updates)), 5)
        await updates.close()
        assert event["type"] == "message" and event["message"]["seq"] == said.seq
        assert event["message"]["attachments"][0]["id"] == kept.id
        # Meta retries the webhook: nothing stored, downloaded or queued again.
        assert (await run.whatsapp(body)).json()["duplicates"] == 1
        await outbox.run_due(run.services, now=utcnow() + LATER)
        assert (await customer_message(run, conversation_id)).id == said.id  # still one message
        assert len(await attachment_records.in_conversation(run.services, conversation_id)) == 1
        assert [e.status for e in await retries(run)] == ["done"]
        assert len([p for p in run.fake.media_requests if p.startswith(GRAPH_PREFIX)]) == 3


async def test_an_attachment_fetched_later_is_in_the_inbox_api(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        url = run.fake.twilio_media(JPEG, "image/jpeg")
        run.fake.fail(503, times=2, path_prefix=url.removeprefix(run.fake.url))
        params = twilio_inbound(
            "Is this the right part?", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg"
        )
        assert (await run.twilio("sms", params)).status_code == 204
        conversation_id = await conversation_of(run, "sms", NUMBER)
        assert (await customer_message(run, conversation_id)).text == "Is this the right part?"

        async def attached() -> bool:
            found = await customer_message(run, conversation_id)
            return bool(found.meta.get("attachments"))

        await run_retries_until(run, attached)
        assert (await run.twilio("sms", params)).status_code == 204  # Twilio retries: nothing new
        assert await run.customer_texts(conversation_id) == ["Is this the right part?"]
        agent = await Harness(run.app, run.services).staff("ana@example.com", "agent")
        try:
            r = await agent.get(f"/api/v1/inbox/conversations/{conversation_id}")
            assert r.status_code == 200, r.text
            (said,) = [m for m in r.json()["messages"] if m["author"] == "customer"]
            (listed,) = said["attachments"]
            assert listed["kind"] == "image" and listed["url"].startswith("/api/v1/inbox/")
            download = await agent.get(listed["url"])
            assert download.status_code == 200 and download.content == JPEG
        finally:
            await agent.aclose()
        assert len(await attachment_records.in_conversation(run.services, conversation_id)) == 1


async def test_a_404_is_not_retried(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        url = run.fake.twilio_media(JPEG, "image/jpeg")
        run.fake.fail(404, path_prefix=url.removeprefix(run.fake.url))
        params = twilio_inbound("", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
        assert (await run.twilio("sms", params)).status_code == 204
        media_id = run.fake.whatsapp_media(PNG, "image/png")
        run.fake.fail(404, path_prefix=f"{GRAPH_PREFIX}/{media_id}")
        response = await run.whatsapp(whatsapp_webhook([wa_media("image", media_id, "image/png")]))
        assert response.status_code == 200
        for channel, address in (("sms", NUMBER), ("whatsapp", WA_ID)):
            said = await customer_message(run, await conversation_of(run, channel, address))
            (problem,) = said.meta["media_problems"]
            assert "HTTP 404" in problem["problem"] and "retry" not in problem
        assert await retries(run) == []
        assert len(run.fake.media_requests) == 2  # one try each


async def test_the_last_attempt_records_why_and_a_requeue_fetches_it(tmp_path):
    async with running(tmp_path) as run:
        media_id = run.fake.whatsapp_media(PNG, "image/png")
        run.fake.fail(503, path_prefix=f"{GRAPH_PREFIX}/{media_id}")  # down until recover()
        body = whatsapp_webhook([wa_media("image", media_id, "image/png", caption="Broken?")])
        assert (await run.whatsapp(body)).status_code == 200
        conversation_id = await conversation_of(run, "whatsapp", WA_ID)
        (entry,) = await retries(run)
        await outbox.run_due(run.services, now=utcnow() + LATER)  # one more try: 503 again
        age = timedelta(hours=run.services.settings.outbox_max_age_hours, minutes=1)
        await run.services.store.execute(  # type: ignore[attr-defined]
            "UPDATE outbox SET created_at = ? WHERE id = ?", utcnow() - age, entry.id
        )
        await outbox.run_due(run.services, now=utcnow() + 2 * LATER)
        (entry,) = await retries(run)
        assert entry.status == "dead" and "HTTP 503" in (entry.last_error or "")
        said = await customer_message(run, conversation_id)
        (problem,) = said.meta["media_problems"]
        assert problem["retry"] == "gave up" and problem["attempts"] == entry.attempts
        assert "HTTP 503" in problem["problem"] and "attachments" not in said.meta
        assert (await run.whatsapp(body)).json()["duplicates"] == 1  # nothing queued again
        assert [e.status for e in await retries(run)] == ["dead"]
        run.fake.recover()  # an admin requeues the dead letter once Meta answers again
        await outbox.requeue(run.services.store, entry.id)  # type: ignore[arg-type]
        await outbox.run_due(run.services, now=utcnow() + LATER)
        said = await customer_message(run, conversation_id)
        assert said.meta["attachments"][0]["kind"] == "image"
        assert said.meta["media_problems"][0]["retry"] == "fetched"


async def test_a_retry_lost_before_it_was_queued_is_queued_by_the_webhooks_retry(tmp_path):
    async with running(tmp_path) as run:
        media_id = run.fake.whatsapp_media(PNG, "image/png")
        run.fake.fail(503, times=1, path_prefix=f"{GRAPH_PREFIX}/{media_id}")
        body = whatsapp_webhook([wa_media("image", media_id, "image/png")])
        assert (await run.whatsapp(body)).status_code == 200
        # The process stopped after storing the message, before its retry was written.
        await run.services.store.execute(  # type: ignore[attr-defined]
            "DELETE FROM outbox WHERE kind = 'media.fetch'"
        )
        assert await retries(run) == []
        assert (await run.whatsapp(body)).json()["duplicates"] == 1  # Meta had no answer
        (entry,) = await retries(run)
        assert entry.status == "pending"
        conversation_id = await conversation_of(run, "whatsapp", WA_ID)

        async def attached() -> bool:
            found = await customer_message(run, conversation_id)
            return bool(found.meta.get("attachments"))

        await run_retries_until(run, attached)


# -- a voice note fetched late ----------------------------------------------------------------

WORDS = "Where is my order ORD-10234?"
VOICE = ("audio", "audio/ogg; codecs=opus")


@pytest.fixture
def speech() -> Any:
    server = TranscriptionServer()
    yield server
    server.close()


def provider(speech: Any) -> dict[str, Any]:
    return {"base_url": speech.url, "model": "whisper-1", "api_key": "sk-test"}


async def late_voice_note(run: Running) -> tuple[bytes, str]:
    """A WhatsApp voice note whose download fails twice with 503 (the webhook's try and the
    first retry's); returns the webhook body and the conversation's id."""
    media_id = run.fake.whatsapp_media(OGG, VOICE[1])
    run.fake.fail(503, times=2, path_prefix=f"{GRAPH_PREFIX}/{media_id}")
    body = whatsapp_webhook([wa_media(VOICE[0], media_id, VOICE[1], voice=True)])
    assert (await run.whatsapp(body)).status_code == 200
    conversation_id = await conversation_of(run, "whatsapp", WA_ID)
    assert await run.customer_texts(conversation_id) == ["[voice message]"]
    return body, conversation_id


async def test_a_voice_note_fetched_late_is_transcribed_and_answered_like_one_on_time(
    tmp_path, database_url, speech
):
    speech.words[hashlib.sha256(OGG).hexdigest()] = WORDS
    async with running(tmp_path, database_url, speech_provider=provider(speech)) as run:
        body, conversation_id = await late_voice_note(run)
        assert speech.requests == []  # nothing to listen to yet
        sent_before = len(run.fake.texts_to(WA_ID))

        async def heard() -> bool:
            return len(await run.customer_texts(conversation_id)) == 2

        await run_retries_until(run, heard)
        assert await run.customer_texts(conversation_id) == ["[voice message]", WORDS]
        (asked,) = speech.requests  # the audio the tests use on time, as Meta served it
        assert asked["file"]["data"] == OGG and asked["file"]["filename"] == "voice-note.ogg"
        note, said = [m for m in await run.messages(conversation_id) if m.author is Author.CUSTOMER]
        (kept,) = await attachment_records.in_conversation(run.services, conversation_id)
        assert kept.kind == "audio" and kept.message_id == note.id
        assert [a["id"] for a in note.meta["attachments"]] == [kept.id]
        (problem,) = note.meta["media_problems"]
        assert problem["retry"] == "fetched" and problem["voice"] == "answered"
        assert problem["transcript"] == said.id
        assert said.meta["voice"]["transcribed"] is True and said.meta["voice"]["late"] is True
        assert said.meta["voice"]["message_id"] == note.id
        # Answered through the normal path: the demo's order flow asks for the email.
        await wait_for(
            lambda: len(run.fake.texts_to(WA_ID)) > sent_before, what="the transcript's answer"
        )
        later = run.fake.texts_to(WA_ID)[sent_before:]
        assert "email" in " ".join(m["text"]["body"] for m in later if "text" in m).lower()
        # Meta retries the webhook and the outbox runs again: nothing heard or said twice.
        assert (await run.whatsapp(body)).json()["duplicates"] == 1
        await outbox.run_due(run.services, now=utcnow() + 10 * LATER)
        assert await run.customer_texts(conversation_id) == ["[voice message]", WORDS]
        assert len(speech.requests) == 1 and run.fake.problems == []
        assert [e.status for e in await retries(run)] == ["done"]


async def test_a_speech_server_down_when_the_file_arrives_is_asked_again_later(tmp_path, speech):
    speech.words[hashlib.sha256(OGG).hexdigest()] = WORDS
    speech.fail = [503, 503]  # the transcriber's own try and its one retry
    async with running(tmp_path, speech_provider=provider(speech)) as run:
        _, conversation_id = await late_voice_note(run)

        async def kept() -> bool:
            said = await customer_message(run, conversation_id)
            return bool(said.meta.get("attachments"))

        await run_retries_until(run, kept)
        (problem,) = (await customer_message(run, conversation_id)).meta["media_problems"]
        assert problem["voice"] == "pending" and len(speech.requests) == 2
        (entry,) = await retries(run)
        assert entry.status == "pending" and "HTTP 503" in (entry.last_error or "")

        async def heard() -> bool:
            return len(await run.customer_texts(conversation_id)) == 2

        await run_retries_until(run, heard)
        assert await run.customer_texts(conversation_id) == ["[voice message]", WORDS]
        assert len(speech.requests) == 3


async def test_a_voice_note_fetched_late_without_a_speech_provider_stays_a_file(tmp_path):
    async with running(tmp_path) as run:
        _, conversation_id = await late_voice_note(run)

        async def settled() -> bool:
            said = await customer_message(run, conversation_id)
            return (said.meta.get("media_problems") or [{}])[0].get("voice") == "unheard"

        await run_retries_until(run, settled)
        said = await customer_message(run, conversation_id)  # still the one message
        assert said.meta["attachments"][0]["kind"] == "audio"
        assert [e.result for e in await retries(run)] == [
            {"attachment_id": said.meta["attachments"][0]["id"], "voice": "unheard"}
        ]
