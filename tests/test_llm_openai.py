"""The OpenAI-compatible provider against a local server that replays OpenAI's published
chat-completions formats (non-streamed ``chat.completion``, streamed
``chat.completion.chunk`` events with ``stream_options.include_usage`` and ``[DONE]``) and
misbehaves on purpose.

Limit of what is testable here: no remote API is reachable from this machine, so these
tests prove we send and parse the documented formats, not that OpenAI or Azure accept
our key or model names today. The same provider runs against a real OpenAI-compatible
server (llama.cpp) in test_llm_llamacpp.py.
"""

from __future__ import annotations

import pytest
from llmkit import FakeLLMServer, Scripted, openai_json, openai_stream, sse

from smartsupport.errors import LLMError, LLMTimeout
from smartsupport.llm import create_provider
from smartsupport.llm.base import ProviderConfig

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@pytest.fixture
async def server():
    async with FakeLLMServer() as s:
        yield s


def provider(server: FakeLLMServer, **extra):
    config = ProviderConfig(
        name="primary", base_url=server.url + "/v1", model="gpt-test", api_key="sk-test", **extra
    )
    return create_provider(config)


async def complete(p, wait: float = 5.0):
    try:
        return await p.complete(MESSAGES, max_tokens=50, temperature=0.1, timeout=wait)
    finally:
        await p.aclose()


async def stream(p, wait: float = 5.0):
    deltas = []
    s = p.stream(MESSAGES, max_tokens=50, temperature=0.1, timeout=wait)
    try:
        async for d in s:
            deltas.append(d)
    finally:
        await p.aclose()
    return deltas, s.completion


async def test_complete_sends_the_documented_request_and_reads_usage(server):
    server.push(openai_json("Hello there.", 11, 3))
    completion = await complete(provider(server))
    assert (completion.text, completion.input_tokens, completion.output_tokens) == (
        "Hello there.",
        11,
        3,
    )
    assert completion.model == "gpt-test" and not completion.estimated
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body == {
        "model": "gpt-test",
        "messages": MESSAGES,
        "max_tokens": 50,
        "temperature": 0.1,
    }


async def test_azure_uses_api_version_and_api_key_header(server):
    server.push(openai_json("ok"))
    await complete(provider(server, api_version="2024-10-21"))
    request = server.requests[0]
    assert request.path == "/v1/chat/completions?api-version=2024-10-21"
    assert request.headers["api-key"] == "sk-test"
    assert "authorization" not in request.headers


async def test_stream_yields_deltas_in_order_and_final_usage(server):
    server.push(openai_stream(["Ship", "ping is ", "free."]))
    deltas, completion = await stream(provider(server))
    assert deltas == ["Ship", "ping is ", "free."]
    assert completion.text == "Shipping is free."
    assert (completion.input_tokens, completion.output_tokens) == (20, 3)
    body = server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_stream_without_usage_estimates_tokens(server):
    server.push(openai_stream(["A longer answer text"], usage=False))
    _, completion = await stream(provider(server))
    assert completion.estimated and completion.output_tokens == len("A longer answer text") // 4


async def test_slow_server_raises_timeout(server):
    server.push(Scripted(delay=2.0, chunks=[b"{}"]))
    with pytest.raises(LLMTimeout):
        await complete(provider(server), wait=0.3)


async def test_stalled_stream_raises_timeout(server):
    reply = openai_stream(["one ", "two"])
    reply.chunks.insert(2, 2.0)
    server.push(reply)
    with pytest.raises(LLMTimeout):
        await stream(provider(server), wait=0.3)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(server, status):
    server.push(Scripted(status, [b'{"error": {"message": "boom"}}']))
    with pytest.raises(LLMError) as info:
        await complete(provider(server))
    assert info.value.retryable and f"HTTP {status}" in str(info.value)


async def test_rate_limit_keeps_retry_after(server):
    server.push(Scripted(429, [b'{"error": {"type": "rate_limit"}}'], {"retry-after": "7"}))
    with pytest.raises(LLMError) as info:
        await complete(provider(server))
    assert info.value.retryable and info.value.retry_after == 7.0


async def test_bad_key_is_not_retryable(server):
    server.push(Scripted(401, [b'{"error": {"message": "invalid api key"}}']))
    with pytest.raises(LLMError) as info:
        await complete(provider(server))
    assert not info.value.retryable


async def test_malformed_json_is_a_retryable_error(server):
    server.push(Scripted(200, [b'{"choices": [{"message": ']))
    with pytest.raises(LLMError, match="malformed JSON") as info:
        await complete(provider(server))
    assert info.value.retryable


async def test_reply_without_choices_is_an_error(server):
    server.push(Scripted(200, [b'{"id": "x", "choices": []}']))
    with pytest.raises(LLMError, match="choices"):
        await complete(provider(server))


async def test_stream_ending_without_done_is_truncated_not_short(server):
    server.push(openai_stream(["Half an ans"], usage=False, done=False))
    with pytest.raises(LLMError, match="end marker") as info:
        await stream(provider(server))
    assert info.value.retryable


async def test_connection_dropped_mid_stream_is_retryable(server):
    server.push(openai_stream(["Half"], usage=False, done=False, drop=True))
    with pytest.raises(LLMError) as info:
        await stream(provider(server))
    assert info.value.retryable


async def test_malformed_chunk_in_stream_is_an_error(server):
    server.push(
        Scripted(200, [*sse((None, "{not json")), *sse((None, "[DONE]"))], {"content-type": "x"})
    )
    with pytest.raises(LLMError, match="malformed JSON"):
        await stream(provider(server))


async def test_unreachable_server_is_retryable():
    config = ProviderConfig(name="gone", base_url="http://127.0.0.1:9/v1", model="m")
    p = create_provider(config)
    with pytest.raises(LLMError) as info:
        await complete(p, wait=2)
    assert info.value.retryable
