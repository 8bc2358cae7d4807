"""The contract every language-model provider keeps, and the configuration of one provider.

A provider turns a list of chat messages (``{"role": "system"|"user"|"assistant",
"content": str}``) into text, whole (``complete``) or as a stream of deltas (``stream``).
It raises only ``LLMError`` (or ``LLMTimeout``): HTTP and parsing failures are translated
at the provider boundary, so the fallback chain never sees an httpx exception.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Message = dict[str, str]


class ProviderConfig(BaseModel):
    """One entry of ``SMARTSUPPORT_LLM_PROVIDERS``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="Used as llm:NAME.")
    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str = Field(min_length=1, description="e.g. https://api.openai.com/v1")
    model: str = Field(min_length=1)
    api_key: SecretStr | None = None
    # Azure OpenAI: set api_version; base_url is .../openai/deployments/DEPLOYMENT.
    api_version: str | None = None
    timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    max_retries: int = Field(default=1, ge=0, le=10)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    price_per_1k_input: float = Field(default=0.0, ge=0)
    price_per_1k_output: float = Field(default=0.0, ge=0)
    # Redact emails, phones, cards, IBANs before the text leaves this process. Turn off
    # only for a model running on infrastructure you trust as much as the database.
    redact: bool = True


@dataclass(slots=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    model: str
    # True when the server reported no usage and the counts are estimated from length.
    estimated: bool = False


def estimate_tokens(text: str) -> int:
    """About four characters per token: good enough for cost when a server omits usage."""
    return max(1, len(text) // 4) if text else 0


class CompletionStream:
    """Async-iterates over text deltas; ``completion`` holds the full text and usage once the
    iteration has finished (``None`` before, or when the stream failed)."""

    def __init__(self, events: AsyncIterator[str | Completion]) -> None:
        self._events = events
        self.completion: Completion | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._deltas()

    async def _deltas(self) -> AsyncIterator[str]:
        async for event in self._events:
            if isinstance(event, Completion):
                self.completion = event
            elif event:
                yield event

    async def aclose(self) -> None:
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()


class LLMProvider(abc.ABC):
    """A chat model reachable over HTTP."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name

    @abc.abstractmethod
    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        timeout: float,  # noqa: ASYNC109 - handed to httpx per network wait
    ) -> Completion:
        """The whole reply. Raises ``LLMTimeout`` past ``timeout`` seconds and ``LLMError``
        for any other failure (HTTP status, malformed body, empty reply)."""

    @abc.abstractmethod
    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        timeout: float,  # noqa: ASYNC109 - handed to httpx per network wait
    ) -> CompletionStream:
        """The reply as deltas. ``timeout`` bounds each network wait (the fallback chain
        bounds the whole attempt). A stream cut before its end marker raises a retryable
        ``LLMError`` while iterating."""

    async def aclose(self) -> None:  # noqa: B027 - most providers hold a client, not all
        """Release connections."""
