"""What the HTTP providers share: one httpx client, server-sent events, and the translation
of httpx failures and HTTP statuses into ``LLMError`` (the one boundary where they happen).

    timeout, connect error                       retryable
    a status in ``remote.RETRYABLE_STATUSES``    retryable (keeping ``Retry-After``)
    other 4xx (bad key, bad request)             not retryable: repeating cannot help
    malformed JSON, stream cut before its end    retryable: proxies and overloaded servers
                                                 do this, and a repeat usually succeeds
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from smartsupport.errors import LLMError, LLMTimeout
from smartsupport.llm.base import LLMProvider, ProviderConfig
from smartsupport.remote import is_retryable_status, parse_retry_after


def status_error(name: str, response: httpx.Response, body: str) -> LLMError:
    status = response.status_code
    return LLMError(
        f"LLM {name}: HTTP {status}: {body[:300]}",
        retryable=is_retryable_status(status),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def loads(name: str, raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise LLMError(f"LLM {name}: malformed JSON from the server", retryable=True) from exc


class HTTPProvider(LLMProvider):
    """A provider that speaks JSON over HTTP. ``transport`` lets tests plug in httpx's
    mock transport; normally the client opens real connections."""

    def __init__(
        self, config: ProviderConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(config)
        self._client = httpx.AsyncClient(transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post_json(
        self,
        url: str,
        *,
        headers: dict[str, str],
        body: dict[str, Any],
        timeout: float,  # noqa: ASYNC109 - handed to httpx per network wait
    ) -> Any:
        try:
            response = await self._client.post(
                url, headers=headers, json=body, timeout=httpx.Timeout(timeout)
            )
        except httpx.TimeoutException as exc:
            raise LLMTimeout(f"LLM {self.name}: no answer within {timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"LLM {self.name}: {exc!r}", retryable=True) from exc
        if response.status_code >= 400:
            raise status_error(self.name, response, response.text)
        return loads(self.name, response.content)

    async def post_sse(
        self,
        url: str,
        *,
        headers: dict[str, str],
        body: dict[str, Any],
        timeout: float,  # noqa: ASYNC109 - handed to httpx per network wait
    ) -> AsyncIterator[tuple[str, str]]:
        """Yields ``(event, data)`` pairs of a server-sent event stream."""
        request = self._client.build_request(
            "POST", url, headers=headers, json=body, timeout=httpx.Timeout(timeout)
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise LLMTimeout(f"LLM {self.name}: no answer within {timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"LLM {self.name}: {exc!r}", retryable=True) from exc
        try:
            if response.status_code >= 400:
                text = (await response.aread()).decode("utf-8", "replace")
                raise status_error(self.name, response, text)
            event, data = "", list[str]()
            async for line in response.aiter_lines():
                if not line:
                    if data:
                        yield event or "message", "\n".join(data)
                    event, data = "", list[str]()
                elif line.startswith(":"):
                    continue  # an SSE comment, used as keep-alive
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)
            if data:
                yield event or "message", "\n".join(data)
        except httpx.TimeoutException as exc:
            raise LLMTimeout(f"LLM {self.name}: stream stalled for {timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"LLM {self.name}: stream broken: {exc!r}", retryable=True) from exc
        finally:
            await response.aclose()


def truncated(name: str) -> LLMError:
    return LLMError(f"LLM {name}: the stream ended before its end marker", retryable=True)
