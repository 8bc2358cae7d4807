"""OpenAI-compatible chat completions: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp server.

    POST {base_url}/chat/completions
    Authorization: Bearer KEY            (Azure: ``api-key: KEY`` and ``?api-version=``)
    {"model", "messages", "max_tokens", "temperature", "stream"}

Streaming replies are server-sent events whose ``data`` is a ``chat.completion.chunk``
with ``choices[0].delta.content``; ``stream_options.include_usage`` asks for a last chunk
with ``usage`` and empty ``choices``; the stream ends with ``data: [DONE]``. A stream that
stops without ``[DONE]`` was cut and is an error, not a short answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from smartsupport.errors import LLMError
from smartsupport.llm.base import Completion, CompletionStream, Message, estimate_tokens
from smartsupport.llm.http import HTTPProvider, loads, truncated


class OpenAIProvider(HTTPProvider):
    def _request(self) -> tuple[str, dict[str, str]]:
        url = self.config.base_url.rstrip("/") + "/chat/completions"
        headers = {"content-type": "application/json"}
        key = self.config.api_key.get_secret_value() if self.config.api_key else ""
        if self.config.api_version:
            url += f"?api-version={self.config.api_version}"
            if key:
                headers["api-key"] = key
        elif key:
            headers["authorization"] = f"Bearer {key}"
        return url, headers

    def _body(self, messages: list[Message], max_tokens: int, temperature: float) -> dict:
        return {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        timeout: float,  # noqa: ASYNC109 - handed to httpx per network wait
    ) -> Completion:
        url, headers = self._request()
        body = self._body(messages, max_tokens, temperature)
        data = await self.post_json(url, headers=headers, body=body, timeout=timeout)
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"LLM {self.name}: reply has no choices[0].message", retryable=True
            ) from exc
        return _completion(text, data.get("usage"), data.get("model") or self.config.model)

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
        url, headers = self._request()
        body = self._body(messages, max_tokens, temperature)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        model = self.config.model
        async for _event, data in self.post_sse(url, headers=headers, body=body, timeout=timeout):
            if data.strip() == "[DONE]":
                yield _completion("".join(parts), usage, model)
                return
            chunk = loads(self.name, data)
            if not isinstance(chunk, dict):
                raise LLMError(f"LLM {self.name}: unexpected stream chunk", retryable=True)
            if "error" in chunk:
                raise LLMError(f"LLM {self.name}: {chunk['error']}", retryable=True)
            model = chunk.get("model") or model
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    parts.append(delta)
                    yield delta
        raise truncated(self.name)


def _completion(text: str, usage: dict[str, Any] | None, model: str) -> Completion:
    if usage and "prompt_tokens" in usage:
        return Completion(
            text, int(usage["prompt_tokens"]), int(usage.get("completion_tokens") or 0), model
        )
    return Completion(text, 0, estimate_tokens(text), model, estimated=True)
