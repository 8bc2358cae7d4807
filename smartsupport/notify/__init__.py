"""Escalation notices in Slack and Microsoft Teams, sent through the outbox.

``handoff_notices`` makes one outbox item per channel the workspace turned on in
``escalation.yaml`` (``notify.slack`` / ``notify.teams``), written by the customer's turn in
its own transaction (``notify_handoff`` queues them outside a turn); the worker calls
``deliver_slack`` / ``deliver_teams``. A notice is informational, so a retry after a lost
response may post it twice (Slack and Teams offer no idempotency key); tickets never do.
"""

from __future__ import annotations

from typing import Any

from smartsupport.domain import OutboxItem
from smartsupport.errors import DeliveryError
from smartsupport.handoff.config import for_workspace
from smartsupport.ids import new_id
from smartsupport.notify import slack, teams
from smartsupport.notify.base import Notice, inbox_url
from smartsupport.outbox import Entry, enqueue
from smartsupport.services import Services
from smartsupport.workspaces import WorkspaceConfig


def handoff_notices(
    workspace: WorkspaceConfig, conversation_id: str, *, reason: str, priority: str, key: str
) -> list[OutboxItem]:
    """The notices a handoff sends, one per chat service the workspace turned on, as outbox
    work for the caller to write in its own transaction (a customer turn writes them with
    the status change). Pure: who the customer is is read when the notice is delivered."""
    config = for_workspace(workspace).notify
    kinds = []
    if config.slack is not None:
        kinds.append("notify.slack")
    if config.teams is not None and config.teams.enabled:
        kinds.append("notify.teams")
    payload = {"conversation_id": conversation_id, "reason": reason[:500], "priority": priority}
    return [
        OutboxItem(kind, dict(payload), idempotency_key=f"{kind}:{conversation_id}:{key}")
        for kind in kinds
    ]


async def notify_handoff(
    services: Services,
    conversation_id: str,
    *,
    reason: str,
    priority: str = "normal",
    key: str | None = None,
) -> list[str]:
    """Queue the notices for a conversation handed to people outside a customer turn;
    returns the kinds queued."""
    conversation = await services.store.get_conversation(conversation_id)
    if conversation is None:
        return []
    items = handoff_notices(
        services.workspace(conversation.workspace_id),
        conversation_id,
        reason=reason,
        priority=priority,
        key=key or new_id(),
    )
    for item in items:
        await enqueue(services.store, conversation.workspace_id, item)  # type: ignore[arg-type]
    if items:
        services.outbox_due.set()
    return [item.kind for item in items]


async def _notice(services: Services, entry: Entry) -> Notice:
    """The notice as it is sent: the workspace and customer as they are now (entries queued
    by 0.1 carry both in the payload)."""
    payload = entry.payload
    conversation_id = payload["conversation_id"]
    who = payload.get("customer")
    if who is None:
        conversation = await services.store.get_conversation(conversation_id)
        customer = (
            await services.store.get_customer(conversation.customer_id) if conversation else None
        )
        who = (customer.name or customer.email or "anonymous visitor") if customer else "unknown"
        if customer and customer.segment:
            who += f" ({customer.segment})"
    return Notice(
        conversation_id=conversation_id,
        workspace_name=payload.get("workspace_name") or services.workspace(entry.workspace_id).name,
        reason=payload["reason"],
        priority=payload["priority"],
        customer=who[:200],
        link=inbox_url(services.settings, conversation_id),
    )


async def deliver_slack(services: Services, entry: Entry) -> dict[str, Any]:
    settings = services.settings
    config = for_workspace(services.workspace(entry.workspace_id)).notify.slack
    notice = await _notice(services, entry)
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
    return await teams.post_card(await _notice(services, entry), url=url)
