"""The WhatsApp Cloud API as Meta publishes it (developers.facebook.com/docs/whatsapp/cloud-api):

    webhook handshake   GET <callback>?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C
                        -> 200 with C as plain text when T is ours, else 403
    webhook events      POST <callback> signed ``X-Hub-Signature-256: sha256=<hex>``, the
                        HMAC-SHA256 of the raw body under the app secret (``verify_signature``)
    send                POST {api}/{phone-number-id}/messages  Authorization: Bearer <token>
                        {"messaging_product": "whatsapp", "recipient_type": "individual",
                         "to": "<wa_id>", "type": "text"|"interactive"|"template"|"image"...}
                        -> 200 {"messaging_product", "contacts": [...], "messages": [{"id"}]}
    errors              4xx/5xx {"error": {"message", "type", "code", "error_data",
                        "fbtrace_id"}}; the ``code`` says what happened (``RETRYABLE_CODES``)

No Meta server can be reached from the tests: tests/messaging_fakes.py replays these formats.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from smartsupport.errors import DeliveryError
from smartsupport.helpdesk.http import JsonClient

# Graph error codes worth repeating later (developers.facebook.com/docs/whatsapp/cloud-api/
# support/error-codes): 1 and 2 (API unknown / service temporarily unavailable), 4 and
# 80007 (application and WABA rate limits), 130429 (throughput), 131000 (something went
# wrong), 131016 (service overloaded), 131056 (pair rate limit: one user, too often),
# 133004 (server temporarily unavailable). Everything else (bad token, 131047 outside the
# 24-hour window, 131026 undeliverable, invalid parameters) fails the same way again.
RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004})
OUTSIDE_WINDOW = 131047  # "Re-engagement message": more than 24 hours since the customer wrote
SIGNATURE_HEADER = "x-hub-signature-256"


class WhatsAppError(DeliveryError):
    """A Graph API error with Meta's ``code`` (0 when the body had none)."""

    def __init__(self, message: str, *, code: int, retryable: bool, retry_after: float | None):
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.code = code


def signature(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """Is ``header`` Meta's signature of exactly these bytes? (constant-time compare)"""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(signature(body, app_secret), header.strip())


def _verdict(error: DeliveryError, body: Any) -> DeliveryError:
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict) or not isinstance(detail.get("code"), int):
        return error
    code = detail["code"]
    details = (detail.get("error_data") or {}).get("details") or detail.get("message") or ""
    return WhatsAppError(
        f"WhatsApp error {code}: {str(details)[:200]}",
        code=code,
        retryable=error.retryable or code in RETRYABLE_CODES,
        retry_after=error.retry_after,
    )


async def send(api_url: str, phone_number_id: str, token: str, body: dict[str, Any]) -> str:
    """Send one message; returns its ``wamid``. Raises WhatsAppError or DeliveryError."""
    message = {"messaging_product": "whatsapp", "recipient_type": "individual", **body}
    headers = {"Authorization": f"Bearer {token}"}
    async with JsonClient("whatsapp", api_url.rstrip("/") + "/", headers=headers) as client:
        data = await client.request(
            "POST", f"{phone_number_id}/messages", json=message, verdict=_verdict
        )
    try:
        return str(data["messages"][0]["id"])
    except (KeyError, IndexError, TypeError) as exc:
        # Sent, but the answer is not the documented shape: repeating could send it twice.
        raise DeliveryError("whatsapp: the send answer names no message id") from exc
