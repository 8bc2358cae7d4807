"""The Prometheus metrics of one app (docs/observability.md lists them with their meaning).

Each ``Metrics`` owns its own ``CollectorRegistry``, never prometheus_client's global one:
several apps in one process (the test suite, an embedding application) keep separate
figures, and nothing is registered at import time.

Two kinds of figures:

    measured as it happens   HTTP requests, turns and their steps, NLU, knowledge, open
                             WebSockets (histograms, a gauge), updated by the code paths
    read at scrape time      the inbox queue and the outbox (``record_*``, called by the
                             /metrics route after a few indexed COUNT queries), and the LLM
                             calls and circuit breakers (``watch``: read from the objects
                             that already count them, so the call path pays nothing)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smartsupport.remote import CLOSED, HALF_OPEN, OPEN, CircuitBreaker

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A keyword turn takes 2-10 ms of server time, a knowledge answer tens of milliseconds, an
# LLM answer seconds (docs/benchmarks.md): buckets from 1 ms to 30 s cover all three.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

TURN_STEPS = ("take_turn", "understand", "decide", "record", "publish_on_release")
SOCKETS = ("visitor", "staff")
BREAKER_STATES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class LLMCounts(Protocol):
    """What an LLM step counts about itself (``llm.chain.CallCounts``)."""

    @property
    def calls(self) -> Mapping[str, int]: ...  # outcome -> calls

    @property
    def input_tokens(self) -> int: ...

    @property
    def output_tokens(self) -> int: ...

    @property
    def cost(self) -> float: ...


# (provider name, its counts); (kind, name, breaker), kind "llm" or "action".
LLMSource = Callable[[], Iterable[tuple[str, LLMCounts]]]
BreakerSource = Callable[[], Iterable[tuple[str, str, CircuitBreaker]]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = Histogram(
            "smartsupport_http_request_duration_seconds",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.turn = Histogram(
            "smartsupport_turn_duration_seconds",
            "Customer turns, from asking for the lock to publishing, by outcome "
            "(answered, duplicate, error).",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        steps = Histogram(
            "smartsupport_turn_step_duration_seconds",
            "Each named step of the conversation path (conversation.py).",
            ["step"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Children bound once: a turn observes five steps, without a label look-up each.
        self.steps = {step: steps.labels(step) for step in TURN_STEPS}
        self.nlu = Histogram(
            "smartsupport_nlu_duration_seconds",
            "Understanding one message: language, intent or out-of-scope, entities.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.knowledge = Histogram(
            "smartsupport_knowledge_duration_seconds",
            "Answering from the help articles: retrieval, answerability and the answer chain "
            "(an LLM step included when one is configured).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        sockets = Gauge(
            "smartsupport_websocket_connections",
            "Open WebSockets: visitor (the widget) and staff (the inbox).",
            ["socket"],
            registry=r,
        )
        self.sockets = {name: sockets.labels(name) for name in SOCKETS}
        self.inbox_waiting = Gauge(
            "smartsupport_inbox_waiting_conversations",
            "Conversations waiting for a person, per workspace (read at scrape time).",
            ["workspace"],
            registry=r,
        )
        self.inbox_oldest_wait = Gauge(
            "smartsupport_inbox_oldest_wait_seconds",
            "How long the longest-waiting conversation has waited, per workspace (0: none).",
            ["workspace"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "smartsupport_outbox_pending_entries",
            "Outbox work not yet delivered (helpdesk tickets, notices), read at scrape time.",
            registry=r,
        )
        self.outbox_oldest_pending = Gauge(
            "smartsupport_outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox entry (0: none).",
            registry=r,
        )
        self.outbox_dead = Gauge(
            "smartsupport_outbox_dead_entries",
            "Outbox entries that ran out of retries (dead letters, kept for admins).",
            registry=r,
        )
        self._remote = _RemoteCollector()
        r.register(self._remote)

    def watch(self, llm: LLMSource, breakers: BreakerSource) -> None:
        """Read LLM call counts and breaker states from these sources at each scrape."""
        self._remote.llm, self._remote.breakers = llm, breakers

    def record_inbox(
        self, workspaces: Iterable[str], queue: Mapping[str, tuple[int, float]]
    ) -> None:
        """``queue``: workspace -> (waiting conversations, oldest wait in seconds)."""
        for workspace in workspaces:
            waiting, oldest = queue.get(workspace, (0, 0.0))
            self.inbox_waiting.labels(workspace).set(waiting)
            self.inbox_oldest_wait.labels(workspace).set(oldest)

    def record_outbox(self, pending: int, oldest_pending: float, dead: int) -> None:
        self.outbox_pending.set(pending)
        self.outbox_oldest_pending.set(oldest_pending)
        self.outbox_dead.set(dead)

    def render(self) -> bytes:
        """The text exposition format of every metric of this app."""
        return generate_latest(self.registry)


class _RemoteCollector(Collector):
    """LLM calls, tokens and cost, and circuit breaker states, read from their owners."""

    def __init__(self) -> None:
        self.llm: LLMSource = lambda: ()
        self.breakers: BreakerSource = lambda: ()

    def describe(self) -> Iterable[Metric]:
        return list(self._families())  # the names only; sources may not be wired yet

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        calls, tokens, cost, state, failures = families
        for provider, counts in self.llm():
            for outcome, n in counts.calls.items():
                calls.add_metric([provider, outcome], n)
            tokens.add_metric([provider, "input"], counts.input_tokens)
            tokens.add_metric([provider, "output"], counts.output_tokens)
            cost.add_metric([provider], counts.cost)
        for kind, name, breaker in self.breakers():
            state.add_metric([kind, name], BREAKER_STATES[breaker.state])
            failures.add_metric([kind, name], breaker.consecutive_failures)
        return iter(families)

    @staticmethod
    def _families() -> tuple[
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
    ]:
        return (
            CounterMetricFamily(
                "smartsupport_llm_calls",
                "LLM calls by provider and outcome (ok, stopped by the grounding check, "
                "error, timeout, circuit_open: refused by the breaker without a call).",
                labels=["provider", "outcome"],
            ),
            CounterMetricFamily(
                "smartsupport_llm_tokens",
                "LLM tokens by provider and direction (input, output).",
                labels=["provider", "direction"],
            ),
            CounterMetricFamily(
                "smartsupport_llm_cost",
                "LLM cost by provider, in the currency of the configured prices.",
                labels=["provider"],
            ),
            GaugeMetricFamily(
                "smartsupport_circuit_breaker_state",
                "Circuit breakers of remote services: 0 closed, 1 half-open, 2 open.",
                labels=["kind", "name"],
            ),
            GaugeMetricFamily(
                "smartsupport_circuit_breaker_consecutive_failures",
                "Consecutive failures a circuit breaker has counted.",
                labels=["kind", "name"],
            ),
        )
