"""OpenTelemetry traces, the optional extra ``tracing`` (``SMARTSUPPORT_TRACING=true``).

One ``TracerProvider`` per app, never the global one, so several apps in one process keep
their spans apart. Everything else is OpenTelemetry's own standard environment:

    OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES   the resource (service.name defaults to
                                                  "smartsupport")
    OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG  sampling (default: parentbased_always_on)
    OTEL_TRACES_EXPORTER                          otlp (default), console or none
    OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT,         where and how OTLP goes (http/protobuf;
    ..._HEADERS, ..._TIMEOUT, ..._PROTOCOL        grpc is refused with the fix named)
    OTEL_BSP_*                                    the batch span processor

Spans: one per HTTP request (``http_telemetry``), one per turn with a child per step of the
conversation path, NLU and knowledge (``telemetry``).
"""

from __future__ import annotations

import os
from typing import Any

from smartsupport.errors import ConfigurationError, missing_extra

EXPORTERS = ("otlp", "console", "none")


class Tracing:
    """The app's tracer provider and tracer. ``close`` flushes pending spans."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("smartsupport")

    def close(self) -> None:
        self.provider.shutdown()


def open_tracing(enabled: bool, environ: dict[str, str] | None = None) -> Tracing | None:
    """The app's tracing when ``SMARTSUPPORT_TRACING`` is on; a missing SDK or an exporter
    we cannot build stops start-up with the fix named."""
    if not enabled:
        return None
    env = dict(os.environ if environ is None else environ)
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise missing_extra("opentelemetry-sdk", "tracing", "SMARTSUPPORT_TRACING") from None
    # The SDK reads OTEL_RESOURCE_ATTRIBUTES itself; the service is named "smartsupport"
    # unless the deployment names it.
    service = env.get("OTEL_SERVICE_NAME")
    if not service and "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        service = "smartsupport"
    resource = Resource.create({"service.name": service} if service else {})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    exporter = _exporter(env)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider)


def _exporter(env: dict[str, str]) -> Any:
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    if len(names) != 1 or names[0] not in EXPORTERS:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER={env.get('OTEL_TRACES_EXPORTER')!r}: smartsupport exports "
            f"traces with one of {', '.join(EXPORTERS)}"
        )
    name = names[0]
    if name == "none":
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    protocol = env.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if protocol not in ("", "http/protobuf"):
        raise ConfigurationError(
            f"OTLP protocol {protocol!r}: smartsupport sends traces over http/protobuf; set "
            "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (collectors listen on port 4318 for it)"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise missing_extra(
            "opentelemetry-exporter-otlp-proto-http", "tracing", "OTEL_TRACES_EXPORTER=otlp"
        ) from None
    return OTLPSpanExporter()
