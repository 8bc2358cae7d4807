"""The LLM steps of the answer chain: a provider behind a timeout, a retry budget and a
circuit breaker, and the token use and cost they accumulate.

The chain itself is data (``SMARTSUPPORT_ANSWER_CHAIN``, e.g. ``["llm:primary",
"llm:backup", "extractive", "handoff", "offline"]``); ``smartsupport.answers.Answerer``
walks it in order. This module makes one ``llm:NAME`` step reliable:

    breaker open?            refuse at once, the next step answers
    each attempt             bounded by ``timeout_seconds`` (streaming included)
    retryable failure        wait (``remote.backoff``: exponential with jitter, never
                             sooner than ``Retry-After``) and try again, up to
                             ``max_retries`` times; a wait longer than the step's timeout
                             means "go to the next step" instead
    text already delivered   no retry: the customer would see the answer twice
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartsupport.errors import LLMError, LLMTimeout
from smartsupport.llm.base import Completion, LLMProvider, Message, ProviderConfig, estimate_tokens
from smartsupport.remote import CircuitBreaker, backoff

# Waits between attempts: a customer is waiting, so start short and stay short; a provider
# asking for longer (Retry-After) than the step's timeout is skipped instead.
BACKOFF_BASE = 0.25
BACKOFF_CAP = 4.0


class StopGeneration(Exception):  # noqa: N818 - a signal, not a failure
    """Raised by a sink to end a stream early (e.g. an unsupported sentence). The provider
    is healthy: this does not count against its breaker and is not retried."""


class TextSink(Protocol):
    """Receives streamed deltas. ``committed`` is true once anything reached the customer."""

    committed: bool

    async def feed(self, delta: str) -> None: ...

    def reset(self) -> None: ...


@dataclass
class Usage:
    """Tokens and cost of one turn (or, summed, of one conversation)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)

    def add(self, step: str, config: ProviderConfig, completion: Completion) -> float:
        """Add one call; return its cost."""
        cost = (
            completion.input_tokens * config.price_per_1k_input
            + completion.output_tokens * config.price_per_1k_output
        ) / 1000
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.cost += cost
        self.calls.append(
            {
                "step": step,
                "model": completion.model,
                "input_tokens": completion.input_tokens,
                "output_tokens": completion.output_tokens,
                "cost": round(cost, 8),
                "estimated": completion.estimated,
            }
        )
        return cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": round(self.cost, 8),
            "calls": list(self.calls),
        }


def accumulate(totals: dict[str, Any] | None, turn: dict[str, Any]) -> dict[str, Any]:
    """Add one turn's ``usage`` to a conversation's running totals (e.g. kept in
    ``Conversation.metadata["llm_usage"]``); per-call detail stays on the turn."""
    totals = dict(totals or {})
    for key in ("input_tokens", "output_tokens"):
        totals[key] = int(totals.get(key, 0)) + int(turn.get(key, 0))
    totals["cost"] = round(float(totals.get("cost", 0.0)) + float(turn.get("cost", 0.0)), 8)
    totals["calls"] = int(totals.get("calls", 0)) + len(turn.get("calls", []))
    return totals


@dataclass
class CallCounts:
    """What one step has done since the process started, for /metrics (read at scrape
    time, so counting costs the call path a few additions)."""

    calls: dict[str, int] = field(default_factory=dict)  # outcome -> calls
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    def count(self, outcome: str) -> None:
        self.calls[outcome] = self.calls.get(outcome, 0) + 1


class LLMStep:
    """One ``llm:NAME`` step. Build it once per process: its breaker is shared state."""

    def __init__(
        self,
        provider: LLMProvider,
        *,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.config = provider.config
        self.name = f"llm:{provider.name}"
        self.breaker = breaker or CircuitBreaker(
            failures=self.config.breaker_failures, reset_seconds=self.config.breaker_reset_seconds
        )
        self._sleep = sleep
        self.counts = CallCounts()

    async def generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        usage: Usage,
        sink: TextSink | None = None,
    ) -> Completion:
        """The provider's reply, streamed through ``sink`` when given. Raises ``LLMError``
        when the breaker is open or the retry budget is spent, ``StopGeneration`` when the
        sink ended the stream."""
        timeout = self.config.timeout_seconds
        for attempt in range(self.config.max_retries + 1):
            if not self.breaker.allow():
                self.counts.count("circuit_open")
                raise LLMError(
                    f"LLM {self.provider.name}: circuit open for another "
                    f"{self.breaker.retry_in():.0f}s"
                )
            try:
                async with asyncio.timeout(timeout):
                    completion = await self._attempt(messages, max_tokens, temperature, sink)
            except StopGeneration:
                self.counts.count("stopped")
                self.breaker.record_success()
                raise
            except TimeoutError as exc:
                self.counts.count("timeout")
                error: LLMError = LLMTimeout(
                    f"LLM {self.provider.name}: no complete answer within {timeout:g}s"
                )
                error.__cause__ = exc
                if not await self._recover(error, attempt, sink):
                    raise error from exc
                continue
            except LLMError as exc:
                self.counts.count("error")
                if not await self._recover(exc, attempt, sink):
                    raise
                continue
            except BaseException:
                # Cancelled (the customer left) or a bug: says nothing about the provider.
                self.breaker.abandon()
                raise
            self.breaker.record_success()
            self.counts.count("ok")
            self.charge(usage, completion)
            return completion
        raise AssertionError("unreachable: the last attempt returns or raises")

    def charge(self, usage: Usage, completion: Completion) -> None:
        """Add a completion's tokens and cost to the turn's usage and this step's counts."""
        self.counts.cost += usage.add(self.name, self.config, completion)
        self.counts.input_tokens += completion.input_tokens
        self.counts.output_tokens += completion.output_tokens

    async def _recover(self, error: LLMError, attempt: int, sink: TextSink | None) -> bool:
        """Count the failure; wait and return True when another attempt is worth it."""
        self.breaker.record_failure()
        if not error.retryable or attempt >= self.config.max_retries:
            return False
        if sink is not None and sink.committed:
            return False
        wait = backoff(attempt + 1, error.retry_after, base=BACKOFF_BASE, cap=BACKOFF_CAP)
        if wait > self.config.timeout_seconds:
            return False  # the provider asks for longer than this step may take
        await self._sleep(wait)
        if sink is not None:
            sink.reset()
        return True

    async def _attempt(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        sink: TextSink | None,
    ) -> Completion:
        timeout = self.config.timeout_seconds
        if sink is None:
            return await self.provider.complete(
                messages, max_tokens=max_tokens, temperature=temperature, timeout=timeout
            )
        stream = self.provider.stream(
            messages, max_tokens=max_tokens, temperature=temperature, timeout=timeout
        )
        try:
            async for delta in stream:
                await sink.feed(delta)
        finally:
            await stream.aclose()
        if stream.completion is None:
            raise LLMError(f"LLM {self.provider.name}: stream ended without usage", retryable=True)
        return stream.completion


def estimated_completion(messages: list[Message], text: str, model: str) -> Completion:
    """Usage of a stream that we stopped ourselves (the server never sent its totals)."""
    prompt = sum(estimate_tokens(m["content"]) for m in messages)
    return Completion(text, prompt, estimate_tokens(text), model, estimated=True)
