"""Slack escalation notices: the Web API's ``chat.postMessage`` with a bot token, or an
incoming webhook.

    POST https://slack.com/api/chat.postMessage   Authorization: Bearer xoxb-...
         {"channel", "text", "blocks"}  -> 200 {"ok": true, "channel", "ts"}
                                         | 200 {"ok": false, "error": "channel_not_found"}
                                         | 429 with Retry-After (rate limited)
    POST <incoming webhook URL>  {"text", "blocks"}  -> 200 "ok" | 4xx "invalid_payload",
                                                         "no_service", "channel_is_archived"

(https://docs.slack.dev/reference/methods/chat.postMessage,
https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks). ``text`` is the
notification fallback; ``blocks`` hold the message and a button into the agent inbox.
Customer-provided text is escaped (&, <, >) so it cannot form Slack links or mentions.

Tests replay these formats against a local HTTP server (tests/test_notify_*.py); no real
Slack workspace is ever called from here.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from smartsupport.errors import DeliveryError
from smartsupport.helpdesk.http import JsonClient
from smartsupport.notify.base import Notice

API_URL = "https://slack.com/api"
# Slack answers these with HTTP 200 and ok=false; repeating the call can succeed.
RETRYABLE_ERRORS = {
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(notice: Notice) -> dict[str, Any]:
    summary = (
        f"*{escape(notice.title)}*\n"
        f"*Workspace:* {escape(notice.workspace_name)}\n"
        f"*Customer:* {escape(notice.customer)}\n"
        f"*Reason:* {escape(notice.reason)}"
    )
    return {
        "text": f"{notice.title}: {notice.reason}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in inbox"},
                        "url": notice.link,
                        "action_id": "open_inbox",
                    }
                ],
            },
        ],
    }


async def post_message(
    notice: Notice, *, token: SecretStr, channel: str, api_url: str = API_URL
) -> dict[str, Any]:
    client = JsonClient(
        "slack", api_url, headers={"Authorization": f"Bearer {token.get_secret_value()}"}
    )
    try:
        data = await client.request(
            "POST", "chat.postMessage", json={"channel": channel, **message(notice)}
        )
    finally:
        await client.aclose()
    if not isinstance(data, dict) or not data.get("ok"):
        error = str(data.get("error") if isinstance(data, dict) else "malformed response")
        raise DeliveryError(f"slack chat.postMessage: {error}", retryable=error in RETRYABLE_ERRORS)
    return {"channel": data.get("channel"), "ts": data.get("ts")}


async def post_webhook(notice: Notice, *, url: SecretStr) -> dict[str, Any]:
    # The URL is the secret: the client is built on it but errors name only "slack webhook".
    client = JsonClient("slack webhook", "", secret_url=True)
    try:
        body = await client.request(
            "POST", url.get_secret_value(), json=message(notice), expect_json=False
        )
    finally:
        await client.aclose()
    return {"response": str(body)[:50]}
