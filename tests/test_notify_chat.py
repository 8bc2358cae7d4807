"""Escalation notices in Slack (chat.postMessage and incoming webhooks) and Microsoft Teams
(incoming-webhook Adaptive Card), delivered through the outbox.

Slack and Teams are the local fake in tests/helpdesk_fakes.py (real HTTP, the published
formats): the limit of what can be tested without real Slack and Teams workspaces."""

from __future__ import annotations

import logging

from smartsupport import outbox
from smartsupport.conversation import start_conversation
from smartsupport.notify import notify_handoff
from tests.helpdesk_fakes import (
    SLACK_HOOK_PATH,
    SLACK_TOKEN,
    TEAMS_HOOK_PATH,
    FakeApis,
    open_test_services,
)


async def escalate(services, name="Ana <script>") -> str:
    conv, _ = await start_conversation(
        services, "acme", customer={"name": name, "email": "ana@example.com", "segment": "vip"}
    )
    await notify_handoff(services, conv.id, reason="sensitive topic: lawyer", priority="urgent")
    return conv.id


async def test_slack_chat_post_message_with_a_link_into_the_inbox(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        escalation = {"notify": {"slack": {"channel": "C0SUPPORT", "api_url": f"{fake.url}/api"}}}
        services = await open_test_services(
            tmp_path, sqlite_url, escalation, slack_bot_token=SLACK_TOKEN
        )
        try:
            cid = await escalate(services)
            await outbox.run_due(services)
            [call] = fake.calls("POST", "/api/chat.postMessage")
            assert call.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
            [message] = fake.slack_messages
            assert message["channel"] == "C0SUPPORT"
            assert "sensitive topic: lawyer" in message["text"]
            section = message["blocks"][0]["text"]["text"]
            assert "Ana &lt;script&gt; (vip)" in section and "<script>" not in section
            button = message["blocks"][1]["elements"][0]
            assert button["url"] == f"https://support.acme.example/inbox/conversations/{cid}"
            [entry] = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert entry.status == "done" and entry.result["ts"].startswith("1700000000.")
        finally:
            await services.close()


async def test_slack_errors_retry_or_dead_letter(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        escalation = {"notify": {"slack": {"channel": "C-UNKNOWN", "api_url": f"{fake.url}/api"}}}
        services = await open_test_services(
            tmp_path, sqlite_url, escalation, slack_bot_token=SLACK_TOKEN
        )
        try:
            await escalate(services)
            fake.fail(429, times=1, retry_after=30)
            await outbox.run_due(services)
            [entry] = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert entry.status == "pending" and "429" in entry.last_error
            await outbox.run_due(services, now=entry.next_attempt_at)
            [entry] = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert entry.status == "dead" and "channel_not_found" in entry.last_error
        finally:
            await services.close()


async def test_slack_incoming_webhook_and_teams_card(tmp_path, sqlite_url, caplog):
    caplog.set_level(logging.DEBUG)
    async with FakeApis() as fake:
        escalation = {"notify": {"slack": {}, "teams": {"enabled": True}}}
        services = await open_test_services(
            tmp_path,
            sqlite_url,
            escalation,
            slack_webhook_url=fake.url + SLACK_HOOK_PATH,
            teams_webhook_url=fake.url + TEAMS_HOOK_PATH,
        )
        try:
            cid = await escalate(services)
            assert await outbox.run_due(services) == 2
            [slack_message] = fake.slack_messages
            assert slack_message["blocks"][1]["elements"][0]["url"].endswith(cid)
            [card] = fake.teams_cards
            attachment = card["attachments"][0]
            assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
            content = attachment["content"]
            assert content["type"] == "AdaptiveCard"
            facts = {f["title"]: f["value"] for f in content["body"][1]["facts"]}
            assert facts["Reason"] == "sensitive topic: lawyer"
            assert content["actions"][0] == {
                "type": "Action.OpenUrl",
                "title": "Open in inbox",
                "url": f"https://support.acme.example/inbox/conversations/{cid}",
            }
            assert all(e.status == "done" for e in await outbox.list_entries(services.store))  # type: ignore[arg-type]
            # The webhook URLs are credentials: not in any log line.
            assert "secretsecret" not in caplog.text and "secret-guid" not in caplog.text
        finally:
            await services.close()


async def test_teams_outage_is_retried_and_errors_hide_the_url(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path,
            sqlite_url,
            {"notify": {"teams": {}}},
            teams_webhook_url=fake.url + TEAMS_HOOK_PATH,
        )
        try:
            await escalate(services)
            fake.fail(503, times=2)
            await outbox.run_due(services)
            [entry] = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert entry.status == "pending" and "503" in entry.last_error
            assert "secret-guid" not in entry.last_error
            await outbox.run_due(services, now=entry.next_attempt_at)
            [entry] = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            await outbox.run_due(services, now=entry.next_attempt_at)
            assert len(fake.teams_cards) == 1
        finally:
            await services.close()


async def test_nothing_is_queued_when_no_channel_is_configured(tmp_path, sqlite_url):
    services = await open_test_services(tmp_path, sqlite_url, {})
    try:
        conv, _ = await start_conversation(services, "acme")
        assert await notify_handoff(services, conv.id, reason="x") == []
    finally:
        await services.close()
