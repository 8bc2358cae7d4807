"""Microsoft Teams escalation notices: an Adaptive Card posted to an incoming webhook.

    POST <incoming webhook URL>
         {"type": "message",
          "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                           "contentUrl": null,
                           "content": {"type": "AdaptiveCard", "version": "1.4", ...}}]}
      -> 200 "1" (Office 365 connector webhooks) | 202 (Workflows webhooks) | 4xx | 429

(https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook).
The card shows the reason and customer as facts and an ``Action.OpenUrl`` button into the
agent inbox. Tests replay this format against a local HTTP server; no real Teams tenant is
called from here.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from smartsupport.helpdesk.http import JsonClient
from smartsupport.notify.base import Notice

CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def card(notice: Notice) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": CARD_TYPE,
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": notice.title,
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Workspace", "value": notice.workspace_name},
                                {"title": "Customer", "value": notice.customer},
                                {"title": "Reason", "value": notice.reason},
                            ],
                        },
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Open in inbox", "url": notice.link}
                    ],
                },
            }
        ],
    }


async def post_card(notice: Notice, *, url: SecretStr) -> dict[str, Any]:
    client = JsonClient("teams webhook", "", secret_url=True)
    try:
        body = await client.request(
            "POST", url.get_secret_value(), json=card(notice), expect_json=False
        )
    finally:
        await client.aclose()
    return {"response": str(body)[:50]}
