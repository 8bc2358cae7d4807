"""SMARTSUPPORT_TRACING=true: a server span per HTTP request (continuing the caller's
traceparent), a ``turn`` span under it with a child per step of the conversation path, and
``nlu`` and ``knowledge`` under their steps; recorded here with the SDK's in-memory exporter.
Without the SDK, the error names the extra; a wrong OTEL_* setting names the fix."""

from __future__ import annotations

import sys

import pytest
from appkit import say, served, start
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from smartsupport import tracing
from smartsupport.app import create_app
from smartsupport.assistant import Assistant
from smartsupport.errors import BackendError, ConfigurationError
from smartsupport.settings import Settings
from smartsupport.tracing import open_tracing

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
STEPS = ["take_turn", "understand", "decide", "record", "publish_on_release"]


async def test_spans_for_the_request_the_turn_and_each_step(tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    exporter = InMemorySpanExporter()
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, tracing=True)
    async with served(settings) as (app, http):
        app.state.telemetry.tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
        conversation = await start(http)
        exporter.clear()
        await say(http, conversation, "What is your returns policy?", "t1", traceparent=TRACEPARENT)
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    request = by_name["POST /api/v1/conversations/{conversation_id}/messages"]
    assert request.kind is SpanKind.SERVER
    assert f"{request.context.trace_id:032x}" == TRACE_ID  # the caller's trace, continued
    assert request.attributes["http.route"] == "/api/v1/conversations/{conversation_id}/messages"
    assert request.attributes["http.response.status_code"] == 201
    turn = by_name["turn"]
    assert turn.parent.span_id == request.context.span_id
    assert turn.attributes["smartsupport.conversation_id"] == conversation["id"]
    assert turn.attributes["smartsupport.turn.outcome"] == "answered"
    steps = sorted((s for s in spans if s.name in STEPS), key=lambda s: s.start_time)
    assert [s.name for s in steps] == STEPS
    assert all(s.parent.span_id == turn.context.span_id for s in steps)
    for earlier, later in zip(steps, steps[1:], strict=False):
        assert earlier.end_time <= later.start_time
    assert by_name["nlu"].parent.span_id == by_name["understand"].context.span_id
    assert by_name["knowledge"].parent.span_id == by_name["decide"].context.span_id


async def test_a_failed_turn_marks_its_step_and_the_turn_as_errors(tmp_path, monkeypatch):
    async def failing(self, turn):
        raise BackendError("the database went away")

    monkeypatch.setattr(Assistant, "decide", failing)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    exporter = InMemorySpanExporter()
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, tracing=True)
    async with served(settings) as (app, http):
        app.state.telemetry.tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
        conversation = await start(http)
        response = await http.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"text": "hello", "client_id": "x"},
            headers={"Authorization": f"Bearer {conversation['token']}"},
        )
    assert response.status_code == 503
    by_name = {span.name: span for span in exporter.get_finished_spans()}
    assert by_name["decide"].status.status_code is StatusCode.ERROR
    assert by_name["turn"].attributes["smartsupport.turn.outcome"] == "error"
    assert (
        by_name["POST /api/v1/conversations/{conversation_id}/messages"].attributes[
            "http.response.status_code"
        ]
        == 503
    )


def test_tracing_without_the_sdk_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed
    with pytest.raises(ConfigurationError, match=r"smartsupport\[tracing\]"):
        create_app(Settings(data_dir=tmp_path, secret_key="k" * 32, tracing=True))


@pytest.mark.parametrize(
    ("environ", "fix"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "otlp, console, none"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
    ],
)
def test_an_exporter_we_cannot_build_stops_start_up_with_the_fix(environ, fix):
    with pytest.raises(ConfigurationError, match=fix):
        open_tracing(True, environ)


def test_the_default_exporter_is_otlp_over_http_and_the_service_is_named():
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    assert isinstance(tracing._exporter({}), OTLPSpanExporter)
    opened = open_tracing(True, {"OTEL_TRACES_EXPORTER": "none"})
    assert opened is not None
    assert opened.provider.resource.attributes["service.name"] == "smartsupport"
    opened.close()
    named = open_tracing(True, {"OTEL_TRACES_EXPORTER": "none", "OTEL_SERVICE_NAME": "edge"})
    assert named is not None
    assert named.provider.resource.attributes["service.name"] == "edge"
    named.close()
    assert open_tracing(False) is None
