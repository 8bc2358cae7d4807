"""HTTP actions: retries only when safe, a circuit breaker, garbage detection, response
mapping, and credentials that come from the environment and never leak."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from smartsupport.dialogue.actions import Backend, call_action, expand_env, pick
from smartsupport.dialogue.schema import ActionSpec, BackendSpec
from smartsupport.remote import CLOSED, OPEN, CircuitBreaker

SECRET = "tok-9d8e7f-never-show-me"


def backend(handler, **spec) -> tuple[Backend, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request, len(seen))

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    settings = BackendSpec(base_url="http://shop.test/api", **spec)
    breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_seconds)
    return Backend("shop", settings, client, settings.base_url, breaker), seen


async def no_sleep(_: float) -> None:
    return None


GET_ORDER = ActionSpec(
    backend="shop",
    path="/orders/{{ slots.id }}",
    params={"customer_id": "{{ customer.id }}"},
    map={"id": "id", "carrier": "shipping.carrier", "first": "items.0.name"},
    require=["id"],
    outcomes={404: "not_found"},
)
SCOPE = {"slots": {"id": "ORD-1"}, "customer": {"id": "c1"}}


async def test_a_successful_call_maps_fields_and_sends_the_templated_request():
    def ok(request, n):
        return httpx.Response(
            200, json={"id": "ORD-1", "shipping": {"carrier": "UPS"}, "items": [{"name": "Shoes"}]}
        )

    be, seen = backend(ok)
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert result.outcome == "ok" and result.attempts == 1
    assert result.data == {"id": "ORD-1", "carrier": "UPS", "first": "Shoes"}
    assert str(seen[0].url) == "http://shop.test/api/orders/ORD-1?customer_id=c1"


async def test_a_named_status_is_an_outcome_not_an_error():
    be, _ = backend(lambda r, n: httpx.Response(404, json={"detail": "no"}))
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert result.outcome == "not_found" and result.attempts == 1
    assert be.breaker.state == CLOSED and be.breaker.consecutive_failures == 0


async def test_get_is_retried_after_5xx_and_recovers():
    def flaky(request, n):
        return httpx.Response(503) if n < 3 else httpx.Response(200, json={"id": "ORD-1"})

    be, seen = backend(flaky, retries=2)
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert result.ok and result.attempts == 3 and len(seen) == 3


async def test_backoff_doubles_between_attempts():
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    be, _ = backend(lambda r, n: httpx.Response(500), retries=3, backoff=0.1)
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=sleep)
    assert result.outcome == "error" and result.error == "HTTP 500"
    # Jittered over the upper half of 0.1 s, 0.2 s, 0.4 s.
    assert len(waits) == 3
    assert all(c / 2 <= w <= c for w, c in zip(waits, [0.1, 0.2, 0.4], strict=True))


async def test_retry_after_is_honoured_and_a_long_one_ends_the_retries():
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    def limited(after: str):
        return lambda r, n: httpx.Response(429, headers={"Retry-After": after})

    be, seen = backend(limited("2"), retries=1, backoff=0.1)
    await call_action("get_order", GET_ORDER, be, SCOPE, sleep=sleep)
    assert len(seen) == 2 and len(waits) == 1 and 2.0 <= waits[0] <= 2.1
    waits.clear()
    be, seen = backend(limited("60"), retries=3, backoff=0.1)
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=sleep)
    assert result.error == "HTTP 429" and len(seen) == 1 and waits == []  # no minute-long wait


async def test_a_permanent_server_answer_is_not_retried():
    be, seen = backend(lambda r, n: httpx.Response(501), retries=3)
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert result.error == "HTTP 501" and len(seen) == 1


async def test_a_post_that_timed_out_is_not_sent_twice():
    def slow(request, n):
        raise httpx.ReadTimeout("slow", request=request)

    cancel = ActionSpec(
        backend="shop",
        method="POST",
        path="/orders/{{ slots.id }}/cancel",
        body={"customer_id": "{{ customer.id }}"},
    )
    be, seen = backend(slow, retries=3)
    result = await call_action("cancel", cancel, be, SCOPE, sleep=no_sleep)
    assert result.outcome == "error" and result.error == "timeout"
    assert len(seen) == 1  # the server may have cancelled it: a retry could repeat it


async def test_a_post_that_never_connected_is_retried():
    def refused(request, n):
        if n == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"status": "cancelled"})

    cancel = ActionSpec(backend="shop", method="POST", path="/c", body={"a": 1})
    be, seen = backend(refused)
    result = await call_action("cancel", cancel, be, SCOPE, sleep=no_sleep)
    assert result.ok and len(seen) == 2
    assert seen[1].content == b'{"a":1}' or seen[1].content == b'{"a": 1}'


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "response is not a JSON object"),
        (httpx.Response(200, json=[1, 2, 3]), "response is not a JSON object"),
        (httpx.Response(200, json={"unexpected": True}), "response lacks id"),
        (httpx.Response(200, content=b"{" * 10), "response is not a JSON object"),
    ],
)
async def test_garbage_is_an_error(response, error):
    be, _ = backend(lambda r, n: response)
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert result.outcome == "error" and result.error == error


async def test_the_circuit_opens_after_repeated_failures_and_probes_later():
    now = [0.0]
    be, seen = backend(
        lambda r, n: httpx.Response(500), retries=0, breaker_failures=2, breaker_reset_seconds=30
    )
    be.breaker = CircuitBreaker(2, 30, clock=lambda: now[0])
    for _ in range(2):
        await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert be.breaker.state == OPEN and len(seen) == 2
    refused = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert refused.error == "circuit open" and len(seen) == 2  # no call went out
    now[0] = 31.0
    probe = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert probe.error == "HTTP 500" and len(seen) == 3
    assert be.breaker.state == OPEN  # the failed probe re-opened it for a full period


async def test_a_cancelled_probe_does_not_keep_the_circuit_shut():
    now = [0.0]
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 2:  # the probe: the customer leaves while it is out
            raise asyncio.CancelledError
        return httpx.Response(500 if calls == 1 else 200, json={"id": "ORD-1"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    settings = BackendSpec(base_url="http://shop.test/api", retries=0)
    be = Backend(
        "shop", settings, client, settings.base_url, CircuitBreaker(1, 30, clock=lambda: now[0])
    )
    await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    now[0] = 31.0
    with pytest.raises(asyncio.CancelledError):
        await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert result.ok and be.breaker.state == CLOSED


async def test_credentials_come_from_the_environment_and_never_leak(monkeypatch, caplog):
    monkeypatch.setenv("SHOP_TOKEN", SECRET)
    be, seen = backend(
        lambda r, n: httpx.Response(500),
        retries=1,
        auth={"type": "bearer", "token_env": "SHOP_TOKEN"},
    )
    with caplog.at_level(logging.DEBUG):
        result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert result.outcome == "error"
    assert SECRET not in caplog.text
    assert SECRET not in repr(result.event()) and SECRET not in repr(result.scope())


async def test_header_and_basic_auth(monkeypatch):
    monkeypatch.setenv("KEY", "k1")
    monkeypatch.setenv("USER", "u")
    monkeypatch.setenv("PASS", "p")
    ok = lambda r, n: httpx.Response(200, json={"id": "x"})  # noqa: E731
    be, seen = backend(ok, auth={"type": "header", "header": "X-Shop-Key", "token_env": "KEY"})
    await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert seen[0].headers["x-shop-key"] == "k1"
    be, seen = backend(ok, auth={"type": "basic", "username_env": "USER", "password_env": "PASS"})
    await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert seen[0].headers["authorization"] == "Basic dTpw"


async def test_missing_credentials_fail_without_calling(monkeypatch, caplog):
    monkeypatch.delenv("SHOP_TOKEN", raising=False)
    be, seen = backend(
        lambda r, n: httpx.Response(200, json={"id": "x"}),
        auth={"type": "bearer", "token_env": "SHOP_TOKEN"},
    )
    with caplog.at_level(logging.ERROR):
        result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert result.error == "credentials not configured" and not seen
    assert "SHOP_TOKEN" in caplog.text  # the log names the variable to set


async def test_optional_credentials_are_skipped_when_unset(monkeypatch):
    monkeypatch.delenv("SHOP_TOKEN", raising=False)
    be, seen = backend(
        lambda r, n: httpx.Response(200, json={"id": "x"}),
        auth={"type": "bearer", "token_env": "SHOP_TOKEN", "required": False},
    )
    result = await call_action("get_order", GET_ORDER, be, SCOPE, sleep=no_sleep)
    assert result.ok and "authorization" not in seen[0].headers


def test_env_expansion_and_dotted_paths(monkeypatch):
    monkeypatch.setenv("SHOP_URL", "http://real")
    monkeypatch.delenv("NOPE", raising=False)
    assert expand_env("${SHOP_URL}/api") == "http://real/api"
    assert expand_env("${NOPE:-builtin://demo-shop}") == "builtin://demo-shop"
    assert pick({"a": {"b": [{"c": 1}]}}, "a.b.0.c") == 1
    assert pick({"a": 1}, "a.b.c") is None
    assert pick([1], ".") == [1]
