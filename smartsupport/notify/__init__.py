"""Escalation notices in Slack and Microsoft Teams, sent through the outbox.

``notify_escalation`` queues one outbox entry per channel the workspace turned on in
``escalation.yaml`` (``notify.slack`` / ``notify.teams``); the worker calls
``deliver_slack`` / ``deliver_teams``. A notice is informational, so a retry after a lost
response may post it twice (Slack and Teams offer no idempotency key); tickets never do.
"""

from __future__ import annotations

from typing import Any

from smartsupport.errors import DeliveryError
from smartsupport.escalation.config import for_workspace
from smartsupport.ids import new_id
from smartsupport.notify import slack, teams
from smartsupport.notify.base import Notice, inbox_url
from smartsupport.outbox import Entry, enqueue
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor


async def notify_escalation(
    services: Services,
    conversation_id: str,
    *,
    reason: str,
    priority: str = "normal",
    db: SqlExecutor | None = None,
    key: str | None = None,
) -> list[str]:
    """Queue notices for an escalated conversation; returns the kinds queued. Pass ``db``
    (a transaction) to queue them atomically with the status change."""
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        return []
    workspace = services.workspace(conversation.workspace_id)
    config = for_workspace(workspace).notify
    customer = await services.store.get_customer(conversation.customer_id)
    who = (customer.name or customer.email or "anonymous visitor") if customer else "unknown"
    if customer and customer.segment:
        who += f" ({customer.segment})"
    payload = {
        "conversation_id": conversation_id,
        "workspace_name": workspace.name,
        "reason": reason[:500],
        "priority": priority,
        "customer": who[:200],
    }
    queued = []
    key = key or new_id()
    kinds = []
    if config.slack is not None:
        kinds.append("notify.slack")
    if config.teams is not None and config.teams.enabled:
        kinds.append("notify.teams")
    for kind in kinds:
        await enqueue(
            db or services.store,  # type: ignore[arg-type]
            conversation.workspace_id,
            kind,
            payload,
            idempotency_key=f"{kind}:{conversation_id}:{key}",
        )
        queued.append(kind)
    return queued


def _notice(services: Services, payload: dict[str, Any]) -> Notice:
    return Notice(
        conversation_id=payload["conversation_id"],
        workspace_name=payload["workspace_name"],
        reason=payload["reason"],
        priority=payload["priority"],
        customer=payload["customer"],
        link=inbox_url(services.settings, payload["conversation_id"]),
    )


async def deliver_slack(services: Services, entry: Entry) -> dict[str, Any]:
    settings = services.settings
    config = for_workspace(services.workspace(entry.workspace_id)).notify.slack
    notice = _notice(services, entry.payload)
    if settings.slack_bot_token is not None and config is not None and config.channel:
        return await slack.post_message(
            notice, token=settings.slack_bot_token, channel=config.channel, api_url=config.api_url
        )
    if settings.slack_webhook_url is not None:
        return await slack.post_webhook(notice, url=settings.slack_webhook_url)
    raise DeliveryError(
        "slack: set SMARTSUPPORT_SLACK_BOT_TOKEN and notify.slack.channel, or "
        "SMARTSUPPORT_SLACK_WEBHOOK_URL",
        retryable=False,
    )


async def deliver_teams(services: Services, entry: Entry) -> dict[str, Any]:
    url = services.settings.teams_webhook_url
    if url is None:
        raise DeliveryError("teams: set SMARTSUPPORT_TEAMS_WEBHOOK_URL", retryable=False)
    return await teams.post_card(_notice(services, entry.payload), url=url)
