"""One LLM step of the answer chain: timeout per attempt, retry budget with Retry-After,
circuit breaker, and token/cost accounting, against a local server that misbehaves."""

from __future__ import annotations

import pytest
from llmkit import FakeLLMServer, Scripted, openai_json, openai_stream

from smartsupport.errors import LLMError, LLMTimeout
from smartsupport.llm import create_provider
from smartsupport.llm.base import ProviderConfig
from smartsupport.llm.chain import LLMStep, Usage, accumulate
from smartsupport.remote import OPEN

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def server():
    async with FakeLLMServer() as s:
        yield s


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_step(server, sleeps=None, **extra) -> LLMStep:
    fields = {"max_retries": 2, "timeout_seconds": 5.0, **extra}
    config = ProviderConfig(name="primary", base_url=server.url + "/v1", model="m", **fields)
    return LLMStep(create_provider(config), sleep=sleeps or Sleeps())


async def generate(step: LLMStep, usage: Usage | None = None, sink=None):
    try:
        return await step.generate(
            MESSAGES, max_tokens=20, temperature=0, usage=usage or Usage(), sink=sink
        )
    finally:
        await step.provider.aclose()


async def test_retries_server_errors_with_backoff_then_succeeds(server):
    server.push(Scripted(503, [b"busy"]), Scripted(500, [b"oops"]), openai_json("Fine."))
    sleeps = Sleeps()
    completion = await generate(make_step(server, sleeps))
    assert completion.text == "Fine."
    assert len(server.requests) == 3
    first, second = sleeps.calls  # jittered over the upper half of 0.25 s, then of 0.5 s
    assert 0.125 <= first <= 0.25 and 0.25 <= second <= 0.5


async def test_retry_after_is_honoured(server):
    server.push(Scripted(429, [b"slow down"], {"retry-after": "3"}), openai_json("ok"))
    sleeps = Sleeps()
    await generate(make_step(server, sleeps))
    [wait] = sleeps.calls
    assert 3.0 <= wait <= 3.25  # never sooner than asked, plus a little jitter


async def test_retry_after_longer_than_the_step_timeout_moves_on_at_once(server):
    server.push(Scripted(429, [b"slow down"], {"retry-after": "120"}), openai_json("ok"))
    sleeps = Sleeps()
    with pytest.raises(LLMError) as info:
        await generate(make_step(server, sleeps))
    assert info.value.retry_after == 120 and sleeps.calls == [] and len(server.requests) == 1


async def test_non_retryable_error_is_not_repeated(server):
    server.push(Scripted(401, [b"bad key"]), openai_json("never"))
    with pytest.raises(LLMError, match="401"):
        await generate(make_step(server))
    assert len(server.requests) == 1


async def test_retry_budget_is_bounded(server):
    server.push(*[Scripted(500, [b"down"]) for _ in range(5)])
    with pytest.raises(LLMError):
        await generate(make_step(server, max_retries=1))
    assert len(server.requests) == 2


async def test_timeout_bounds_the_whole_attempt_even_when_bytes_trickle(server):
    # Every chunk arrives within the read timeout, the whole reply does not.
    reply = openai_stream(["a ", "b ", "c ", "d"])
    reply.chunks = [c for chunk in reply.chunks for c in (chunk, 0.3)]
    server.push(reply)

    class Sink:
        committed = False

        async def feed(self, delta: str) -> None:
            pass

        def reset(self) -> None:
            pass

    with pytest.raises(LLMTimeout):
        await generate(make_step(server, max_retries=0, timeout_seconds=1.0), sink=Sink())


async def test_breaker_opens_and_then_refuses_without_calling(server):
    server.push(*[Scripted(500, [b"down"]) for _ in range(3)])
    step = make_step(server, max_retries=0, breaker_failures=3, breaker_reset_seconds=60)
    for _ in range(3):
        with pytest.raises(LLMError):
            await step.generate(MESSAGES, max_tokens=5, temperature=0, usage=Usage())
    assert step.breaker.state == OPEN
    with pytest.raises(LLMError, match="circuit open"):
        await generate(step)
    assert len(server.requests) == 3


async def test_no_retry_once_text_reached_the_customer(server):
    server.push(openai_stream(["Shipping is free."], done=False), openai_json("again"))

    class Committed:
        committed = False

        async def feed(self, delta: str) -> None:
            self.committed = True

        def reset(self) -> None:
            raise AssertionError("must not reset after committing")

    with pytest.raises(LLMError, match="end marker"):
        await generate(make_step(server), sink=Committed())
    assert len(server.requests) == 1


async def test_usage_and_cost_are_accounted_per_call(server):
    server.push(openai_json("one", 1000, 500), openai_json("two", 2000, 100))
    usage = Usage()
    step = make_step(server, price_per_1k_input=0.5, price_per_1k_output=1.5)
    await step.generate(MESSAGES, max_tokens=5, temperature=0, usage=usage)
    await generate(step, usage)
    assert (usage.input_tokens, usage.output_tokens) == (3000, 600)
    assert usage.cost == pytest.approx(0.5 + 0.75 + 1.0 + 0.15)
    assert [c["cost"] for c in usage.as_dict()["calls"]] == [1.25, 1.15]
    totals = accumulate(None, usage.as_dict())
    totals = accumulate(totals, usage.as_dict())
    assert totals == {"input_tokens": 6000, "output_tokens": 1200, "cost": 4.8, "calls": 4}
