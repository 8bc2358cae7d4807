"""Voice notes: audio from the widget is transcribed through an OpenAI-compatible
``/v1/audio/transcriptions`` server and the transcript answered like typed text; without a
server (or when it fails) the assistant says, in the customer's language, that it cannot
listen to audio and offers a person.

OpenAI, whisper.cpp's server and faster-whisper servers cannot run here (no model weights
can be fetched), so ``TranscriptionServer`` is a local HTTP server that speaks the published
request and response format (multipart/form-data with ``file``, ``model``,
``response_format``, ``language``; ``200 {"text": ...}``; errors as ``{"error": {...}}``)
and checks what we send. It answers from a table of audio digests to words.
"""

from __future__ import annotations

import hashlib
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartsupport.app import create_app
from smartsupport.settings import Settings
from smartsupport.transcription import SpeechConfig, Transcriber

# The first bytes of a WebM (EBML) and an Ogg file, then some payload: what a browser's
# MediaRecorder and WhatsApp send.
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"voice-note-one" * 20
OGG = b"OggS\x00\x02" + b"voice-note-two" * 20


class TranscriptionServer:
    """OpenAI's transcription endpoint, replayed. ``words`` maps an audio's sha256 to its
    text; ``fail`` makes the next N requests answer ``status``."""

    def __init__(self, key: str = "sk-test") -> None:
        self.key = key
        self.words: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, answer = server.answer(self.path, self.headers, body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        # ``headers``: http.server's message, looked up without regard to case.
        if path != "/v1/audio/transcriptions":
            return 404, {"error": {"message": f"unknown path {path}", "type": "invalid_request"}}
        if headers.get("Authorization") != f"Bearer {self.key}":
            return 401, {"error": {"message": "Incorrect API key provided", "type": "auth"}}
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                fields[name] = {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "data": part.get_payload(decode=True),
                }
            else:
                fields[name] = part.get_payload(decode=True).decode()
        self.requests.append(fields)
        if self.fail:
            return self.fail.pop(0), {"error": {"message": "server busy", "type": "server_error"}}
        if "file" not in fields or "model" not in fields:
            return 400, {"error": {"message": "file and model are required", "type": "invalid"}}
        digest = hashlib.sha256(fields["file"]["data"]).hexdigest()
        return 200, {"text": self.words.get(digest, "")}


@pytest.fixture
def speech():
    server = TranscriptionServer()
    yield server
    server.close()


def app_client(tmp_path, speech_url: str | None, **extra: Any) -> TestClient:
    options: dict[str, Any] = {"data_dir": tmp_path, "secret_key": "test-secret", **extra}
    if speech_url:
        options["speech_provider"] = {
            "base_url": speech_url,
            "model": "whisper-1",
            "api_key": "sk-test",
            "max_retries": 1,
        }
    return TestClient(create_app(Settings(**options)))


def start(client: TestClient, locale: str = "en") -> dict[str, Any]:
    response = client.post("/api/v1/conversations", json={"workspace": "demo", "locale": locale})
    assert response.status_code == 201, response.text
    return response.json()


def voice(client: TestClient, conversation: dict[str, Any], audio: bytes, **params: str) -> Any:
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/attachments",
        params={"filename": "voice-note.webm", **params},
        content=audio,
        headers={"Authorization": f"Bearer {conversation['token']}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_voice_note_is_transcribed_and_answered_like_typed_text(tmp_path, speech):
    speech.words[hashlib.sha256(WEBM).hexdigest()] = "Where is my order ORD-10234?"
    with app_client(tmp_path, speech.url) as client:
        conversation = start(client)
        body = voice(client, conversation, WEBM)
    (sent,) = speech.requests
    assert sent["model"] == "whisper-1" and sent["response_format"] == "json"
    assert sent["language"] == "en"
    assert sent["file"]["filename"] == "voice-note.webm"
    assert sent["file"]["content_type"] == "audio/webm" and sent["file"]["data"] == WEBM
    assert body["message"]["text"] == "Where is my order ORD-10234?"
    assert body["message"]["attachments"][0]["kind"] == "audio"
    assert body["replies"], "the transcript goes through the normal path"
    assert "email" in " ".join(r["text"] for r in body["replies"]).lower()  # the order flow asks


def test_a_server_error_is_retried_once(tmp_path, speech):
    speech.words[hashlib.sha256(OGG).hexdigest()] = "hello"
    speech.fail = [503]
    with app_client(tmp_path, speech.url) as client:
        body = voice(client, start(client), OGG)
    assert len(speech.requests) == 2 and body["message"]["text"] == "hello"


@pytest.mark.parametrize(
    "locale, words",
    [
        ("en", "can't listen to voice messages"),
        ("es", "no puedo escuchar"),
        ("ja", "音声メッセージ"),
    ],
)
def test_without_a_provider_the_assistant_says_it_cannot_listen_and_offers_a_person(
    tmp_path, locale, words
):
    with app_client(tmp_path, None) as client:
        conversation = start(client, locale)
        body = voice(client, conversation, WEBM)
        (reply,) = body["replies"]
        assert words in reply["text"]
        (button,) = reply["quick_replies"]
        # Pressing the button reaches a person.
        pressed = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"text": button, "client_id": "press"},
            headers={"Authorization": f"Bearer {conversation['token']}"},
        )
        assert pressed.json()["status"] == "waiting_for_agent"
    assert body["message"]["text"].startswith("🎤")
    assert body["message"]["attachments"][0]["kind"] == "audio"


def test_a_failing_provider_keeps_the_note_and_answers_like_no_provider(tmp_path, speech):
    speech.fail = [400]
    with app_client(tmp_path, speech.url) as client:
        body = voice(client, start(client), WEBM)
    assert len(speech.requests) == 1, "a 400 is not retried"
    assert "can't listen" in body["replies"][0]["text"]
    assert body["message"]["attachments"][0]["url"]


async def test_the_transcriber_reads_the_published_response_and_names_failures(speech):
    speech.words[hashlib.sha256(OGG).hexdigest()] = "  bonjour  "
    transcriber = Transcriber(SpeechConfig(base_url=speech.url, api_key="sk-test"))
    try:
        heard = await transcriber.transcribe(OGG, "note.ogg", "audio/ogg", "fr-FR")
        assert heard.text == "bonjour" and speech.requests[-1]["language"] == "fr"
    finally:
        await transcriber.aclose()
    wrong = Transcriber(SpeechConfig(base_url=speech.url, api_key="sk-wrong", max_retries=0))
    try:
        with pytest.raises(Exception, match="HTTP 401"):
            await wrong.transcribe(OGG, "note.ogg", "audio/ogg")
    finally:
        await wrong.aclose()
