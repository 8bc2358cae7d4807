"""The one boundary where helpdesk and chat-service HTTP failures become ``DeliveryError``.

    timeout, connection error                   retryable
    a status in ``remote.RETRYABLE_STATUSES``   retryable (keeping ``Retry-After``); 409 is
                                                Zendesk's answer to a concurrent update
    other 4xx (bad token, bad request)          not retryable: the outbox dead-letters it

Secrets go in headers built by the caller and are never part of an error message or log
line (errors name the method, the path and the status only).
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx

from smartsupport.errors import DeliveryError
from smartsupport.remote import is_retryable_status, parse_retry_after

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# A service's reading of its own error body: (the generic error, the parsed body or None)
# -> the error to raise (the generic one when the body says nothing more).
Verdict = Callable[[DeliveryError, Any], DeliveryError]


# True while a ``secret_url`` client sends (per task), so the log filter knows which lines
# to redact without the secret being kept anywhere.
_sending_secret: ContextVar[bool] = ContextVar("sending_secret", default=False)


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"']+", re.IGNORECASE)


class _HideSecretUrls(logging.Filter):
    """httpx logs every request URL at INFO; a webhook URL is a credential, so what httpx
    logs while a ``secret_url`` client sends carries no URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _sending_secret.get():
            # On the message as it will be written: the redacting record factory
            # (log_redaction.install) may already have merged the arguments into it.
            record.msg, record.args = _URL.sub("(webhook URL)", record.getMessage()), None
        return True


_hide = _HideSecretUrls()  # stateless; added to the httpx logger once (addFilter is idempotent)


@cache
def _ssl_context() -> ssl.SSLContext:
    # Building a verifying context loads the CA bundle (~150 ms); one per process will do.
    return ssl.create_default_context()


class JsonClient:
    """A small async JSON client. ``transport`` lets tests swap the network out, though the
    test suite talks to a real local HTTP server instead."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        secret_url: bool = False,
    ) -> None:
        self.service = service
        # Webhook URLs carry their secret in the path: never put it in an error message.
        self.secret_url = secret_url
        if secret_url:
            logging.getLogger("httpx").addFilter(_hide)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Accept": "application/json", **(headers or {})},
            auth=auth,
            timeout=TIMEOUT,
            transport=transport,
            follow_redirects=False,
            verify=_ssl_context(),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # ``async with JsonClient(...) as client`` closes the connection pool however the
    # calls end, instead of a try/finally around every use.
    async def __aenter__(self) -> JsonClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        expect_json: bool = True,
        data: dict[str, Any] | None = None,
        content: bytes | None = None,
        verdict: Verdict | None = None,
    ) -> Any:
        """``data`` sends a form, ``content`` exact bytes (a signed body); ``verdict`` reads
        a service's own error body (WhatsApp's and Twilio's error codes) into the error."""
        path = "(webhook)" if self.secret_url else urlsplit(url).path or "/"
        where = f"{self.service} {method} {path}"
        secret = _sending_secret.set(self.secret_url)
        try:
            response = await self._client.request(
                method, url, json=json, params=params, headers=headers, data=data, content=content
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"{where}: timed out", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}", retryable=True) from exc
        finally:
            _sending_secret.reset(secret)
        if response.status_code >= 400:
            error = DeliveryError(
                f"{where}: HTTP {response.status_code}: {response.text[:200]}",
                retryable=is_retryable_status(response.status_code),
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
            if verdict is not None:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                found = verdict(error, body)
                if found is not error:
                    raise found from error
            raise error
        if not expect_json:
            return response.text
        try:
            return response.json()
        except ValueError as exc:
            # Proxies in front of a struggling service answer 200 with an HTML page.
            raise DeliveryError(f"{where}: the response is not JSON", retryable=True) from exc
