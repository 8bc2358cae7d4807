"""The Anthropic provider against a local server replaying the Messages API formats from
Anthropic's published docs (``POST /v1/messages`` with ``x-api-key`` and
``anthropic-version``; the streaming event flow message_start, content_block_start, ping,
content_block_delta, content_block_stop, message_delta, message_stop; ``error`` events).

Limit of what is testable here: no remote API is reachable from this machine, so this
proves we send and parse the documented formats, not that api.anthropic.com accepts our
key and model today.
"""

from __future__ import annotations

import pytest
from llmkit import FakeLLMServer, Scripted, anthropic_json, anthropic_stream

from smartsupport.errors import LLMError
from smartsupport.llm import create_provider
from smartsupport.llm.base import ProviderConfig

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Where is my parcel?"},
]


@pytest.fixture
async def server():
    async with FakeLLMServer() as s:
        yield s


def provider(server: FakeLLMServer):
    config = ProviderConfig(
        name="claude",
        kind="anthropic",
        base_url=server.url + "/v1",
        model="claude-test",
        api_key="sk-ant-test",
    )
    return create_provider(config)


async def stream(p):
    deltas = []
    s = p.stream(MESSAGES, max_tokens=64, temperature=0.0, timeout=5)
    try:
        async for d in s:
            deltas.append(d)
    finally:
        await p.aclose()
    return deltas, s.completion


async def test_complete_sends_system_as_top_level_field(server):
    server.push(anthropic_json("It ships in 3 days."))
    p = provider(server)
    completion = await p.complete(MESSAGES, max_tokens=64, temperature=0.0, timeout=5)
    await p.aclose()
    assert completion.text == "It ships in 3 days."
    assert (completion.input_tokens, completion.output_tokens) == (30, 7)
    request = server.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body == {
        "model": "claude-test",
        "max_tokens": 64,
        "temperature": 0.0,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Where is my parcel?"}],
    }


async def test_stream_follows_the_event_flow_and_counts_tokens(server):
    server.push(anthropic_stream(["It ", "ships ", "today."]))
    deltas, completion = await stream(provider(server))
    assert deltas == ["It ", "ships ", "today."]
    assert completion.text == "It ships today."
    # input from message_start, output from the cumulative count in message_delta
    assert (completion.input_tokens, completion.output_tokens) == (25, 15)
    assert server.requests[0].body["stream"] is True


async def test_overloaded_error_event_mid_stream_is_retryable(server):
    server.push(anthropic_stream(["It "], error="overloaded_error"))
    with pytest.raises(LLMError, match="overloaded_error") as info:
        await stream(provider(server))
    assert info.value.retryable


async def test_invalid_request_error_event_is_not_retryable(server):
    server.push(anthropic_stream([], error="invalid_request_error"))
    with pytest.raises(LLMError) as info:
        await stream(provider(server))
    assert not info.value.retryable


async def test_stream_without_message_stop_is_truncated(server):
    server.push(anthropic_stream(["It ships"], stop=False))
    with pytest.raises(LLMError, match="end marker"):
        await stream(provider(server))


async def test_overloaded_status_529_is_retryable(server):
    body = b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    server.push(Scripted(529, [body]))
    p = provider(server)
    with pytest.raises(LLMError) as info:
        await p.complete(MESSAGES, max_tokens=64, temperature=0.0, timeout=5)
    await p.aclose()
    assert info.value.retryable


async def test_reply_without_usage_is_an_error(server):
    server.push(Scripted(200, [b'{"content": [{"type": "text", "text": "hi"}]}']))
    p = provider(server)
    with pytest.raises(LLMError, match="usage"):
        await p.complete(MESSAGES, max_tokens=64, temperature=0.0, timeout=5)
    await p.aclose()
