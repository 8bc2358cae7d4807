"""Anthropic's Messages API.

    POST {base_url}/messages            (base_url: https://api.anthropic.com/v1)
    x-api-key: KEY, anthropic-version: 2023-06-01
    {"model", "system", "messages", "max_tokens", "temperature", "stream"}

The system prompt is a top-level field, not a message. A streamed reply is a sequence of
named server-sent events: ``message_start`` (input token count), ``content_block_start``,
``content_block_delta`` (``text_delta`` pieces), ``content_block_stop``, ``message_delta``
(cumulative output tokens), ``message_stop``; ``ping`` keeps the connection alive and
``error`` (e.g. ``overloaded_error``) can arrive mid-stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from smartsupport.errors import LLMError
from smartsupport.llm.base import Completion, CompletionStream, Message
from smartsupport.llm.http import HTTPProvider, loads, truncated

API_VERSION = "2023-06-01"
# Errors that mean "busy, ask again"; others (invalid_request_error, ...) will not heal.
RETRYABLE_ERRORS = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class AnthropicProvider(HTTPProvider):
    def _request(
        self, messages: list[Message], max_tokens: int, temperature: float
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        url = self.config.base_url.rstrip("/") + "/messages"
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if self.config.api_key:
            headers["x-api-key"] = self.config.api_key.get_secret_value()
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "messages": [m for m in messages if m["role"] != "system"],
        }
        if system:
            body["system"] = system
        return url, headers, body

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        timeout: float,  # noqa: ASYNC109 - handed to httpx per network wait
    ) -> Completion:
        url, headers, body = self._request(messages, max_tokens, temperature)
        data = await self.post_json(url, headers=headers, body=body, timeout=timeout)
        try:
            text = "".join(b["text"] for b in data["content"] if b.get("type") == "text")
            usage = data["usage"]
            return Completion(
                text,
                int(usage["input_tokens"]),
                int(usage["output_tokens"]),
                data.get("model") or self.config.model,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LLMError(
                f"LLM {self.name}: reply lacks content or usage", retryable=True
            ) from exc

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        timeout: float,  # noqa: ASYNC109 - handed to httpx per network wait
    ) -> CompletionStream:
        return CompletionStream(self._events(messages, max_tokens, temperature, timeout))

    async def _events(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        timeout: float,  # noqa: ASYNC109 - handed to httpx per network wait
    ) -> AsyncIterator[str | Completion]:
        url, headers, body = self._request(messages, max_tokens, temperature)
        body["stream"] = True
        parts: list[str] = []
        input_tokens = output_tokens = 0
        model = self.config.model
        async for event, data in self.post_sse(url, headers=headers, body=body, timeout=timeout):
            payload = loads(self.name, data)
            kind = payload.get("type", event) if isinstance(payload, dict) else None
            if kind == "message_start":
                message = payload.get("message") or {}
                model = message.get("model") or model
                usage = message.get("usage") or {}
                input_tokens = int(usage.get("input_tokens") or 0)
                output_tokens = int(usage.get("output_tokens") or 0)
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    parts.append(delta["text"])
                    yield delta["text"]
            elif kind == "message_delta":
                usage = payload.get("usage") or {}
                output_tokens = int(usage.get("output_tokens") or output_tokens)
            elif kind == "message_stop":
                yield Completion("".join(parts), input_tokens, output_tokens, model)
                return
            elif kind == "error":
                error = payload.get("error") or {}
                raise LLMError(
                    f"LLM {self.name}: {error.get('type')}: {error.get('message')}",
                    retryable=error.get("type") in RETRYABLE_ERRORS,
                )
            elif kind is None:
                raise LLMError(f"LLM {self.name}: unexpected stream event", retryable=True)
        raise truncated(self.name)
