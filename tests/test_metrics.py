"""/metrics: off by default, refused without the bearer token, and after real turns the
figures have moved: HTTP and turn latency by step, NLU and knowledge, open WebSockets, the
inbox queue and the outbox read at scrape time, LLM calls, tokens and cost, breakers. Every
metric the Grafana dashboard (deploy/grafana/smartsupport.json) uses is in a real scrape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from appkit import say, served, start
from fastapi.testclient import TestClient
from llmkit import FakeLLMServer, Scripted, openai_stream
from prometheus_client.parser import text_string_to_metric_families

from smartsupport.app import create_app
from smartsupport.domain import utcnow
from smartsupport.errors import ConfigurationError
from smartsupport.ids import new_id
from smartsupport.llm.base import ProviderConfig
from smartsupport.settings import Settings, load_settings

TOKEN = "scrape-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "smartsupport.json"
WORKSPACES = ROOT / "bench" / "workspaces"  # "plain": keywords only, quick to start


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, metric: str, /, **labels: str) -> float:
    return scrape.get((metric, frozenset(labels.items())), 0.0)


async def scrape(http) -> dict:
    response = await http.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def settings(tmp_path: Path, **values) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k" * 32, **values)


async def test_metrics_are_off_unless_a_token_is_set_and_not_in_the_api_document(tmp_path):
    async with served(settings(tmp_path)) as (_, http):
        response = await http.get("/metrics", headers=AUTH)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert "SMARTSUPPORT_METRICS_TOKEN" in response.json()["error"]["message"]
        spec = (await http.get("/openapi.json")).json()
        assert "/metrics" not in spec["paths"]


async def test_a_scrape_without_the_right_bearer_token_is_refused(tmp_path):
    plain = settings(tmp_path, metrics_token=TOKEN, demo=False, workspaces_dir=WORKSPACES)
    async with served(plain) as (_, http):
        wrong = {"Authorization": "Bearer wrong-token-0123456789"}
        for headers in ({}, wrong, {"Authorization": TOKEN}):
            response = await http.get("/metrics", headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "unauthorized"
        assert (await http.get("/metrics", headers=AUTH)).status_code == 200


def test_a_short_metrics_token_stops_start_up_with_the_fix(monkeypatch):
    monkeypatch.setenv("SMARTSUPPORT_METRICS_TOKEN", "short")
    with pytest.raises(ConfigurationError, match="16 characters"):
        load_settings()


async def test_real_turns_move_the_http_turn_step_nlu_and_knowledge_histograms(tmp_path):
    async with served(settings(tmp_path, metrics_token=TOKEN)) as (_, http):
        before = await scrape(http)
        conversation = await start(http)
        await say(http, conversation, "hello", "c1")
        await say(http, conversation, "What is your returns policy?", "c2")
        await say(http, conversation, "What is your returns policy?", "c2")  # a retry
        after = await scrape(http)

    def moved(metric: str, /, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    route = "/api/v1/conversations/{conversation_id}/messages"
    count = "smartsupport_http_request_duration_seconds_count"
    assert moved(count, method="POST", route=route, status="201") == 3
    assert moved(count, method="POST", route="/api/v1/conversations", status="201") == 1
    assert moved("smartsupport_turn_duration_seconds_count", outcome="answered") == 2
    assert moved("smartsupport_turn_duration_seconds_count", outcome="duplicate") == 1
    assert moved("smartsupport_turn_duration_seconds_sum", outcome="answered") > 0
    for step in ("understand", "decide", "record", "publish_on_release"):
        assert moved("smartsupport_turn_step_duration_seconds_count", step=step) == 2, step
    assert moved("smartsupport_turn_step_duration_seconds_count", step="take_turn") == 3
    assert moved("smartsupport_nlu_duration_seconds_count") == 2
    assert moved("smartsupport_knowledge_duration_seconds_count") >= 1
    assert moved("smartsupport_knowledge_duration_seconds_sum") > 0
    # The demo's flow calls the bundled shop: its breaker is watched, closed.
    assert value(after, "smartsupport_circuit_breaker_state", kind="action", name="demo.shop") == 0


def test_open_widget_sockets_are_counted_and_carry_the_request_id(tmp_path):
    plain = settings(tmp_path, metrics_token=TOKEN, demo=False, workspaces_dir=WORKSPACES)
    with TestClient(create_app(plain)) as client:
        conversation = client.post("/api/v1/conversations", json={"workspace": "plain"}).json()
        url = f"/api/v1/conversations/{conversation['id']}/ws"
        with client.websocket_connect(url, headers={"X-Request-ID": "ws-1"}) as ws:
            assert (b"x-request-id", b"ws-1") in ws.extra_headers  # echoed in the handshake
            ws.send_json({"type": "hello", "token": conversation["token"], "after": 0})
            assert ws.receive_json()["type"] == "ready"
            during = samples(client.get("/metrics", headers=AUTH).text)
            assert value(during, "smartsupport_websocket_connections", socket="visitor") == 1
            assert value(during, "smartsupport_websocket_connections", socket="staff") == 0
        after = samples(client.get("/metrics", headers=AUTH).text)
        assert value(after, "smartsupport_websocket_connections", socket="visitor") == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    name = "postgres_url" if request.param == "postgresql" else "sqlite_url"
    return request.getfixturevalue(name)


async def test_the_inbox_queue_and_the_outbox_are_read_at_scrape_time(tmp_path, database_url):
    config = settings(tmp_path, metrics_token=TOKEN, database_url=database_url)
    async with served(config) as (app, http):
        empty = await scrape(http)
        assert value(empty, "smartsupport_inbox_waiting_conversations", workspace="demo") == 0
        assert value(empty, "smartsupport_inbox_oldest_wait_seconds", workspace="demo") == 0
        for n in range(2):
            conversation = await start(http)
            body = (await say(http, conversation, "I want to talk to a human", f"h{n}")).json()
            assert body["status"] == "waiting_for_agent"
        store = app.state.services.store
        now = utcnow()
        for status in ("pending", "pending", "dead", "done"):
            await store.execute(
                "INSERT INTO outbox (id, workspace_id, kind, idempotency_key, payload, status, "
                "attempts, next_attempt_at, created_at, updated_at) "
                "VALUES (?, 'demo', 'notify.slack', ?, ?, ?, 0, ?, ?, ?)",
                new_id(), new_id(), json.dumps({}), status, now, now, now,
            )  # fmt: skip
        full = await scrape(http)
    assert value(full, "smartsupport_inbox_waiting_conversations", workspace="demo") == 2
    assert 0 < value(full, "smartsupport_inbox_oldest_wait_seconds", workspace="demo") < 60
    assert value(full, "smartsupport_outbox_pending_entries") == 2
    assert 0 <= value(full, "smartsupport_outbox_oldest_pending_seconds") < 60
    assert value(full, "smartsupport_outbox_dead_entries") == 1


async def test_llm_calls_tokens_cost_and_breakers_and_every_dashboard_metric(tmp_path):
    async with FakeLLMServer() as server:
        provider = ProviderConfig(
            name="primary", base_url=server.url + "/v1", model="gpt-test", max_retries=0,
            breaker_failures=5, price_per_1k_input=1.0, price_per_1k_output=2.0,
        )  # fmt: skip
        config = settings(
            tmp_path,
            metrics_token=TOKEN,
            llm_providers=[provider],
            answer_chain=["llm:primary", "extractive", "handoff", "offline"],
        )
        async with served(config) as (_, http):
            conversation = await start(http)
            server.push(Scripted(status=500))
            # Two questions a help-centre passage answers (so both reach the LLM step).
            await say(http, conversation, "How much does express shipping cost?", "q1")
            text = "Express shipping costs $12 and takes 1-2 business days."
            server.push(openai_stream([text]))
            await say(http, conversation, "Do you ship to Canada?", "q2")
            response = await http.get("/metrics", headers=AUTH)
    scraped = samples(response.text)
    assert len(server.requests) == 2
    assert value(scraped, "smartsupport_llm_calls_total", provider="primary", outcome="error") == 1
    answered = sum(
        value(scraped, "smartsupport_llm_calls_total", provider="primary", outcome=o)
        for o in ("ok", "stopped")
    )
    assert answered == 1
    tokens = value(scraped, "smartsupport_llm_tokens_total", provider="primary", direction="input")
    assert tokens >= 20
    assert value(scraped, "smartsupport_llm_cost_total", provider="primary") > 0
    assert value(scraped, "smartsupport_circuit_breaker_state", kind="llm", name="primary") == 0
    # The dashboard only uses metrics a real scrape has.
    exposed = {name for name, _ in scraped}
    used = set(re.findall(r"\bsmartsupport_[a-z_]+", DASHBOARD.read_text()))
    assert used, "the dashboard queries smartsupport metrics"
    assert not used - exposed, f"the dashboard uses metrics no scrape has: {used - exposed}"


def test_each_app_has_its_own_registry(tmp_path):
    first = create_app(settings(tmp_path / "a", metrics_token=TOKEN, demo=False))
    second = create_app(settings(tmp_path / "b", metrics_token=TOKEN, demo=False))
    one, two = first.state.telemetry.metrics, second.state.telemetry.metrics
    one.http.labels("GET", "/x", "200").observe(0.1)
    assert b'route="/x"' in one.render()
    assert b'route="/x"' not in two.render()
