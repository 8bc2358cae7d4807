"""What one app reports about itself while it works: Prometheus metrics (``metrics``),
OpenTelemetry spans (``tracing``) and the conversation id of the log lines (``log_format``),
behind three small hooks the code paths call:

    with telemetry.turn(conversation_id) as turn:    a customer turn, timed step by step
        turn.step("understand")                      (a lap timer: each call ends the
        ...                                          previous step and starts the next)
    with telemetry.timed("nlu"): ...                 NLU, knowledge: a histogram and a span
    with telemetry.socket("visitor"): ...            an open WebSocket, counted

Both metrics and tracing are optional; with neither, a turn costs two context-variable
writes and a timer object, and ``timed``/``socket`` return a shared no-op context.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from contextvars import Token
from types import TracebackType
from typing import Any

from smartsupport.log_format import CONVERSATION_ID
from smartsupport.metrics import Metrics
from smartsupport.tracing import Tracing

log = logging.getLogger("smartsupport.turn")
_NOTHING: AbstractContextManager[None] = nullcontext()
FIRST_STEP = "take_turn"


class Telemetry:
    def __init__(self, metrics: Metrics | None = None, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.tracer: Any = tracing.tracer if tracing is not None else None

    def turn(self, conversation_id: str) -> TurnTimer:
        """Time a customer turn; its first step is ``take_turn`` (waiting for the lock
        included). Log lines inside carry the conversation id."""
        return TurnTimer(self, conversation_id)

    def timed(self, name: str) -> AbstractContextManager[Any]:
        """Time ``nlu`` or ``knowledge``: its histogram and a span."""
        histogram = getattr(self.metrics, name) if self.metrics is not None else None
        if histogram is None and self.tracer is None:
            return _NOTHING
        return _Timed(name, histogram, self.tracer)

    def socket(self, kind: str) -> AbstractContextManager[Any]:
        """Count an open WebSocket: ``visitor`` or ``staff``."""
        if self.metrics is None:
            return _NOTHING
        return self.metrics.sockets[kind].track_inprogress()

    def close(self) -> None:
        if self.tracing is not None:
            self.tracing.close()


class _Timed:
    __slots__ = ("_name", "_histogram", "_tracer", "_span", "_started")

    def __init__(self, name: str, histogram: Any, tracer: Any) -> None:
        self._name, self._histogram, self._tracer = name, histogram, tracer
        self._span: Any = None
        self._started = 0.0

    def __enter__(self) -> None:
        if self._tracer is not None:
            self._span = self._tracer.start_as_current_span(self._name)
            self._span.__enter__()
        self._started = time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._histogram is not None:
            self._histogram.observe(time.perf_counter() - self._started)
        if self._span is not None:
            self._span.__exit__(kind, exc, tb)


class TurnTimer:
    """One turn: its duration by outcome, each step's duration, a ``turn`` span with a
    child span per step (current while the step runs, so NLU and knowledge spans nest)."""

    __slots__ = (
        "_telemetry", "conversation_id", "outcome", "_log_token", "_started", "_step",
        "_step_started", "_turn_span", "_turn", "_step_span", "_step_token",
    )  # fmt: skip

    def __init__(self, telemetry: Telemetry, conversation_id: str) -> None:
        self._telemetry = telemetry
        self.conversation_id = conversation_id
        self.outcome = "answered"  # or "duplicate"; "error" when the turn raises
        self._log_token: Token[str | None] | None = None
        self._turn_span: Any = None  # its context manager; ``_turn`` the span itself
        self._turn: Any = None
        self._step_span: Any = None
        self._step_token: Any = None

    def __enter__(self) -> TurnTimer:
        self._log_token = CONVERSATION_ID.set(self.conversation_id)
        self._started = self._step_started = time.perf_counter()
        self._step = FIRST_STEP
        tracer = self._telemetry.tracer
        if tracer is not None:
            self._turn_span = tracer.start_as_current_span(
                "turn", attributes={"smartsupport.conversation_id": self.conversation_id}
            )
            self._turn = self._turn_span.__enter__()
            self._open_step_span()
        return self

    def step(self, name: str) -> None:
        """End the current step and start ``name``."""
        now = time.perf_counter()
        self._end_step(now, None)
        self._step, self._step_started = name, now
        if self._turn_span is not None:
            self._open_step_span()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        now = time.perf_counter()
        if exc is not None:
            self.outcome = "error"
        self._end_step(now, exc)
        metrics = self._telemetry.metrics
        if metrics is not None:
            metrics.turn.labels(self.outcome).observe(now - self._started)
        log.debug("turn %s in %.1f ms", self.outcome, (now - self._started) * 1000)
        if self._turn_span is not None:
            self._turn.set_attribute("smartsupport.turn.outcome", self.outcome)
            self._turn_span.__exit__(kind, exc, tb)
        if self._log_token is not None:
            CONVERSATION_ID.reset(self._log_token)

    def _open_step_span(self) -> None:
        from opentelemetry import context, trace

        self._step_span = self._telemetry.tracer.start_span(self._step)
        self._step_token = context.attach(trace.set_span_in_context(self._step_span))

    def _end_step(self, now: float, exc: BaseException | None) -> None:
        metrics = self._telemetry.metrics
        if metrics is not None:
            metrics.steps[self._step].observe(now - self._step_started)
        if self._step_span is not None:
            from opentelemetry import context
            from opentelemetry.trace import Status, StatusCode

            if exc is not None:
                self._step_span.record_exception(exc)
                self._step_span.set_status(Status(StatusCode.ERROR, str(exc)))
            context.detach(self._step_token)
            self._step_span.end()
            self._step_span = None
