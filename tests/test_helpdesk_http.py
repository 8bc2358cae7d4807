"""The helpdesk and chat-service HTTP boundary: statuses become ``DeliveryError`` with the
shared retry verdict and Retry-After, and webhook URLs (credentials) never reach a log."""

from __future__ import annotations

import logging

import httpx
import pytest

from smartsupport.errors import DeliveryError, RemoteError
from smartsupport.helpdesk.http import JsonClient

WEBHOOK = "https://hooks.example.test/services/T000/B000/secretsecret"


def answering(status: int, headers: dict[str, str] | None = None) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, headers=headers, json={}))


@pytest.mark.parametrize(
    ("status", "retryable"), [(409, True), (429, True), (503, True), (400, False), (501, False)]
)
async def test_statuses_follow_the_one_retry_table(status, retryable):
    transport = answering(status, {"Retry-After": "42"})
    async with JsonClient("zendesk", "https://help.test/api", transport=transport) as client:
        with pytest.raises(DeliveryError) as info:
            await client.request("POST", "/tickets.json", json={})
    assert isinstance(info.value, RemoteError)
    assert info.value.retryable is retryable and info.value.retry_after == 42.0
    assert f"zendesk POST /tickets.json: HTTP {status}" in str(info.value)


async def test_a_timeout_is_retryable():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    transport = httpx.MockTransport(slow)
    async with JsonClient("freshdesk", "https://help.test", transport=transport) as client:
        with pytest.raises(DeliveryError, match="timed out") as info:
            await client.request("GET", "/api/v2/tickets")
    assert info.value.retryable


async def test_webhook_urls_never_reach_a_log_line_and_other_urls_still_do(caplog):
    caplog.set_level(logging.DEBUG)
    async with JsonClient("slack webhook", "", secret_url=True, transport=answering(200)) as hook:
        await hook.request("POST", WEBHOOK, json={"text": "hi"}, expect_json=False)
    async with JsonClient("slack webhook", "", secret_url=True, transport=answering(404)) as hook:
        with pytest.raises(DeliveryError) as info:
            await hook.request("POST", WEBHOOK, json={"text": "hi"}, expect_json=False)
    assert "secretsecret" not in str(info.value)
    async with JsonClient("zendesk", "https://help.test", transport=answering(200)) as client:
        await client.request("GET", "/api/v2/users/me.json")
    assert "secretsecret" not in caplog.text and "(webhook URL)" in caplog.text
    assert "https://help.test/api/v2/users/me.json" in caplog.text  # only secrets are hidden
