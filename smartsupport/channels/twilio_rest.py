"""Twilio Programmable Messaging as Twilio publishes it (twilio.com/docs/messaging/api,
twilio.com/docs/usage/webhooks/webhooks-security):

    webhooks        POST application/x-www-form-urlencoded (MessageSid, From, To, Body,
                    NumMedia, MediaUrl0..., ProfileName, ButtonPayload, Latitude, ...; status
                    callbacks: MessageSid, MessageStatus, ErrorCode), signed
                    ``X-Twilio-Signature``: base64 HMAC-SHA1 under the Auth Token of the full
                    URL Twilio called followed by every POST parameter, sorted by name, as
                    name + value with no separators (``signature``)
    send            POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic
                    (AccountSid, AuthToken), form To, From | MessagingServiceSid, Body |
                    ContentSid + ContentVariables, MediaUrl, StatusCallback
                    -> 201 {"sid": "SM...", "status": "queued", ...}
    errors          4xx/5xx {"code", "message", "more_info", "status"}

No Twilio server can be reached from the tests: tests/messaging_fakes.py replays these formats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from smartsupport.errors import DeliveryError
from smartsupport.helpdesk.http import JsonClient

SIGNATURE_HEADER = "x-twilio-signature"
UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient" (the customer sent STOP)
OUTSIDE_WINDOW = 63016  # WhatsApp: free-form message outside the 24-hour window
# 20429 too many requests, 20500 internal error, 20503 service unavailable, 63018 a
# WhatsApp sender's rate limit: the same message may go through later.
RETRYABLE_CODES = frozenset({20429, 20500, 20503, 63018})
MAX_BODY = 1600  # characters in one Body (Twilio error 21617 beyond it)


class TwilioError(DeliveryError):
    def __init__(self, message: str, *, code: int, retryable: bool, retry_after: float | None):
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.code = code


def signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_signature(
    url: str, params: Iterable[tuple[str, str]], header: str | None, auth_token: str
) -> bool:
    if not header:
        return False
    return hmac.compare_digest(signature(url, params, auth_token), header.strip())


def _verdict(error: DeliveryError, body: Any) -> DeliveryError:
    if not isinstance(body, dict) or not isinstance(body.get("code"), int):
        return error
    code = body["code"]
    return TwilioError(
        f"Twilio error {code}: {str(body.get('message') or '')[:200]}",
        code=code,
        retryable=error.retryable or code in RETRYABLE_CODES,
        retry_after=error.retry_after,
    )


async def send(
    api_url: str, account_sid: str, auth_token: str, form: Mapping[str, Any]
) -> dict[str, Any]:
    """Create one message; returns Twilio's message resource (``sid``, ``status``)."""
    async with JsonClient(
        "twilio", api_url.rstrip("/") + "/", auth=(account_sid, auth_token)
    ) as client:
        data = await client.request(
            "POST",
            f"2010-04-01/Accounts/{account_sid}/Messages.json",
            data=dict(form),
            verdict=_verdict,
        )
    if not isinstance(data, dict) or not str(data.get("sid", "")).startswith(("SM", "MM")):
        raise DeliveryError("twilio: the answer names no message sid")
    return data


def split_body(text: str, limit: int = MAX_BODY) -> list[str]:
    """``text`` in parts Twilio accepts, cut at line ends, else at spaces, else hard."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut <= limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*parts, text] if text else parts
