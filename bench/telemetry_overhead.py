"""CPU cost of the telemetry hooks themselves, in microseconds, with metrics off and on:
what one turn pays (turn timer with its five steps, NLU and knowledge timers) and what one
HTTP request pays (the request-id and latency middleware); and a turn's spans with tracing
on (exporter "none": making the spans, not sending them). A tight loop on one core, so the
figures hold on a busy machine better than an end-to-end load test does.

    python bench/telemetry_overhead.py
"""

from __future__ import annotations

import asyncio
import json
import time

from smartsupport.http_telemetry import RequestTelemetry
from smartsupport.metrics import Metrics
from smartsupport.telemetry import Telemetry
from smartsupport.tracing import open_tracing

STEPS = ("understand", "decide", "record", "publish_on_release")
N = 20_000


def turn_cost(telemetry: Telemetry) -> float:
    started = time.process_time()
    for _ in range(N):
        with telemetry.turn("c") as turn:
            for step in STEPS:
                turn.step(step)
                if step == "understand":
                    with telemetry.timed("nlu"):
                        pass
                elif step == "decide":
                    with telemetry.timed("knowledge"):
                        pass
    return (time.process_time() - started) / N * 1e6


async def request_cost(telemetry: Telemetry | None) -> float:
    async def endpoint(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = endpoint if telemetry is None else RequestTelemetry(endpoint, telemetry)

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message) -> None:
        pass

    started = time.process_time()
    for _ in range(N):
        scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "root_path": ""}
        await app(scope, receive, send)
    return (time.process_time() - started) / N * 1e6


def main() -> None:
    off, on = Telemetry(), Telemetry(Metrics())
    bare = asyncio.run(request_cost(None))
    figures = {
        "turn_hooks_us_metrics_off": round(turn_cost(off), 2),
        "turn_hooks_us_metrics_on": round(turn_cost(on), 2),
        "request_middleware_us_metrics_off": round(asyncio.run(request_cost(off)) - bare, 2),
        "request_middleware_us_metrics_on": round(asyncio.run(request_cost(on)) - bare, 2),
    }
    tracing = open_tracing(True, {"OTEL_TRACES_EXPORTER": "none"})
    figures["turn_hooks_us_tracing_on"] = round(turn_cost(Telemetry(None, tracing)), 2)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
