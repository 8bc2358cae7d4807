"""Input limits at the edge, before routing and authentication: what may reach a route at all.

``RequestLimits`` is a plain ASGI middleware, outermost in the stack, so its answers cost
the server no more than the limit:

* **Body size** (413): a declared ``Content-Length`` above the limit is refused before one
  byte of the body is read; a chunked body is counted as it arrives and refused at the
  limit. The probe pushed a server from 174 to 780 MiB with four 100 MiB bodies.
* **Storable values** (422): JSON bodies are parsed once here and every string (keys
  included) is checked for NUL and lone surrogates, every integer against the 64-bit range
  both databases can store, every number for being finite (``1e999`` parses as infinity),
  nesting for depth. Path and query are checked for NUL. PostgreSQL refuses all of these
  inside a query (the probe saw them reported as 503 outages) while SQLite stored some and
  overflowed on others (500): refusing them here makes both backends answer the same.

Narrower bounds belong to the fields that have them: ``MAX_SEQ`` for sequence numbers and
offsets (PostgreSQL ``integer`` columns), ``check_metadata`` for customer metadata.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MiB = 1024 * 1024
MAX_SEQ = 2**31 - 1  # sequence numbers, after/offset/limit: PostgreSQL ``integer`` columns
MAX_INT = 2**63 - 1  # any other integer: BIGINT on PostgreSQL, INTEGER on SQLite
MAX_JSON_DEPTH = 32
METADATA_MAX_BYTES = 16 * 1024
METADATA_MAX_DEPTH = 4
# Knowledge articles carry whole documents, and attachment uploads (the widget's and the
# inbox's) carry files: they get the larger upload limit (attachments then their own).
UPLOAD_PATHS = (
    r"^/api/v1/(admin/workspaces/[^/]+/articles(/|$)"
    r"|(inbox/)?conversations/[^/]+/attachments$"
    r"|review/[^/]+/imports$)"  # past tickets or chats to bootstrap from (review/)
)


class Unstorable(ValueError):
    """A value no backend can store; the message names where it is."""


def check_text(value: str, where: str) -> str:
    """``value`` unless it holds NUL or a lone surrogate (neither is storable as UTF-8)."""
    if "\x00" in value:
        raise Unstorable(f"{where}: the NUL character (\\u0000) is not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Unstorable(f"{where}: unpaired surrogate characters are not allowed") from None
    return value


def check_value(value: Any, where: str = "body", depth: int = 0) -> None:
    """Every string, key and number inside a parsed JSON value is storable."""
    if depth > MAX_JSON_DEPTH:
        raise Unstorable(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -MAX_INT - 1 <= value <= MAX_INT:
            raise Unstorable(f"{where}: integer outside the 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Unstorable(f"{where}: numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, where)
            check_value(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, f"{where}[{index}]", depth + 1)


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Customer metadata from a visitor: small and shallow (a 50 MB blob was stored)."""
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    if size > METADATA_MAX_BYTES:
        raise ValueError(f"metadata is {size} bytes; at most {METADATA_MAX_BYTES} are kept")
    if _depth(metadata) > METADATA_MAX_DEPTH:
        raise ValueError(f"metadata may nest at most {METADATA_MAX_DEPTH} levels")
    return metadata


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


class RequestLimits:
    """The outermost middleware: body size, then storable JSON, path and query."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        upload_body_bytes: int,
        upload_paths: str = UPLOAD_PATHS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.upload_body_bytes = upload_body_bytes
        self.upload_paths = re.compile(upload_paths)

    def limit_for(self, path: str) -> int:
        if self.upload_paths.match(path):
            return self.upload_body_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket" and _nul_in_target(scope):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if _nul_in_target(scope):
            await _refuse(send, 422, "invalid_input", "the NUL character is not allowed in URLs")
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, 413, "too_large", f"the request body exceeds {limit} bytes")
            return
        if _is_json(scope):
            await self._json(scope, receive, send, limit)
        else:
            await self._streamed(scope, receive, send, limit)

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            size += len(message.get("body", b""))
            if size > limit:
                await _refuse(send, 413, "too_large", f"the request body exceeds {limit} bytes")
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = _json_problem(body)
        if problem is not None:
            await _refuse(send, 422, "invalid_input", problem)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Counts the body as the route reads it. At the limit the client gets 413 at once,
        the route sees a disconnect (frameworks turn an exception raised here into 400),
        and whatever the route answers after that is dropped."""
        size = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal size, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    refused = True
                    if not started:
                        await _refuse(
                            send, 413, "too_large", f"the request body exceeds {limit} bytes"
                        )
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)


def _json_problem(body: bytes) -> str | None:
    """Why the JSON body cannot be stored, or None (invalid JSON is the route's to report)."""
    if not body:
        return None
    try:
        value = json.loads(body)
    except RecursionError:
        return f"body: nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:
        return None
    try:
        check_value(value)
    except Unstorable as exc:
        return str(exc)
    return None


def _nul_in_target(scope: Scope) -> bool:
    return "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_json(scope: Scope) -> bool:
    """JSON, or no content type at all (FastAPI parses such a body as JSON)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return scope.get("method") in ("POST", "PUT", "PATCH", "DELETE")


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
