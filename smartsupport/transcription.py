"""Speech to text for voice notes, through any server with OpenAI's transcription API:
OpenAI itself, whisper.cpp's server (``--inference-path /v1/audio/transcriptions``),
faster-whisper servers (speaches), vLLM.

    POST {base_url}/audio/transcriptions          multipart/form-data
      file=<audio bytes; filename with an extension the server recognises>
      model=<model>  response_format=json  [language=<ISO-639-1 hint>]
    200 {"text": "..."}  (servers may add "language", "duration", ...)
    Authorization: Bearer KEY when a key is set

Configured like the LLM providers (``SMARTSUPPORT_SPEECH_PROVIDER``, a JSON object) and called
with the same policy (``remote.py``): one circuit breaker per process, retries with backoff on
the retryable statuses only. Failures are raised as ``TranscriptionError``, so the caller
falls back to "I cannot listen to audio" instead of losing the customer's message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smartsupport.errors import TranscriptionError
from smartsupport.remote import CircuitBreaker, backoff, is_retryable_status, parse_retry_after


class SpeechConfig(BaseModel):
    """``SMARTSUPPORT_SPEECH_PROVIDER``: the speech-to-text server."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(min_length=1, description="e.g. https://api.openai.com/v1")
    model: str = Field(default="whisper-1", min_length=1)
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    max_retries: int = Field(default=1, ge=0, le=5)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)


@dataclass(slots=True)
class Transcript:
    text: str
    language: str | None = None  # when the server says which language it heard


class Transcriber:
    """One per process (the breaker is shared by every conversation). ``transport`` lets a
    test plug in httpx's mock transport; normally the client opens real connections."""

    def __init__(
        self, config: SpeechConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_seconds)
        self._client = httpx.AsyncClient(transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def transcribe(
        self, audio: bytes, filename: str, content_type: str, language: str | None = None
    ) -> Transcript:
        """The words in ``audio``; TranscriptionError when the server cannot say."""
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise TranscriptionError(
                    f"speech server {self.config.base_url}: circuit open after repeated failures",
                    retryable=True,
                    retry_after=self.breaker.retry_in(),
                )
            try:
                found = await self._once(audio, filename, content_type, language)
            except TranscriptionError as exc:
                self.breaker.record_failure()
                attempt += 1
                if not exc.retryable or attempt > self.config.max_retries:
                    raise
                await asyncio.sleep(backoff(attempt, exc.retry_after, base=0.5, cap=5.0))
                continue
            except BaseException:
                self.breaker.abandon()
                raise
            self.breaker.record_success()
            return found

    async def _once(
        self, audio: bytes, filename: str, content_type: str, language: str | None
    ) -> Transcript:
        url = self.config.base_url.rstrip("/") + "/audio/transcriptions"
        headers = {}
        if self.config.api_key is not None:
            headers["authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
        data = {"model": self.config.model, "response_format": "json"}
        if language:
            data["language"] = language.split("-")[0].lower()
        try:
            response = await self._client.post(
                url,
                headers=headers,
                data=data,
                files={"file": (filename, audio, content_type)},
                timeout=httpx.Timeout(self.config.timeout_seconds),
            )
        except httpx.TimeoutException as exc:
            raise TranscriptionError(
                f"speech server {url}: no answer within {self.config.timeout_seconds:g}s",
                retryable=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise TranscriptionError(f"speech server {url}: {exc!r}", retryable=True) from exc
        if response.status_code >= 400:
            raise TranscriptionError(
                f"speech server {url}: HTTP {response.status_code}: {response.text[:300]}",
                retryable=is_retryable_status(response.status_code),
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        try:
            body = response.json()
            text = body["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TranscriptionError(
                f"speech server {url}: the answer has no text", retryable=False
            ) from exc
        if not isinstance(text, str):
            raise TranscriptionError(f"speech server {url}: text is not a string")
        heard = body.get("language")
        return Transcript(text.strip(), heard if isinstance(heard, str) and heard else None)
