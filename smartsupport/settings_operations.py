"""Settings of running the service: observability, analytics, background jobs, the outbox,
events for data teams, retention and agent presence. One part of ``settings.Settings``.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator

from smartsupport.data_policy import check_retention

EVENTS_SCHEMES = ("amqp", "amqps")  # the publishers of events/__init__.py


class OperationsSettings(BaseModel):
    """How the service runs and what it reports (docs/deployment.md, docs/observability.md)."""

    # -- observability (docs/observability.md) -----------------------------------------------
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text, or json: one JSON object per line with timestamp, level, logger, "
        "message, request_id and, during a turn, conversation_id.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Unset: no metrics are collected and /metrics answers 404. Set (16 "
        "characters or more): Prometheus metrics at /metrics for scrapers that send "
        "Authorization: Bearer <token>; others get 401.",
    )
    tracing: bool = Field(
        default=False,
        description="OpenTelemetry traces of HTTP requests and turn steps, exported as the "
        "standard OTEL_* variables say (OTLP over HTTP by default); needs "
        "smartsupport[tracing].",
    )
    # -- analytics (docs/analytics.md) ---------------------------------------------------------
    recontact_window_hours: int = Field(
        default=72,
        ge=1,
        le=720,
        description="Analytics: a bot-only conversation counts as an automated resolution "
        "only if the customer does not come back on the same topic within this many hours "
        "(72, as Zendesk evaluates automated resolutions).",
    )
    csat_after_bot: bool = Field(
        default=True,
        description="Ask for a 1-5 rating when a customer gives a thumbs up to an answer in "
        "a conversation no person took part in (a bot-only resolution); false: only after "
        "an agent resolves.",
    )
    resolution_check: bool = Field(
        default=False,
        description="Analytics: have a language model read each conversation counted as an "
        "automated resolution and say whether the customer's issue was resolved (redacted, "
        "capped transcript; docs/analytics.md). Uses the llm:NAME steps of "
        "SMARTSUPPORT_ANSWER_CHAIN, so one must be configured.",
    )
    # -- models (docs/deployment.md "Both cores") -----------------------------------------------
    encoder: Literal["auto", "process", "thread"] = Field(
        default="auto",
        description="Where the packaged sentence encoder runs for customers' messages. "
        "process: a child process, so its work (half of a turn's CPU) runs on another core; "
        "thread: in the server process, one thread; auto: process on a machine with two "
        "cores or more, else thread.",
    )
    warm_up: bool = Field(
        default=True,
        description="Before the server says it is ready, build what the first turns would "
        "build on first use (reply texts, detectors, handoff patterns; ~0.3 s), then, with "
        "the encoder in its own process, encode every article passage's sentences in the "
        "background (warm_up.py). off: ready sooner, and the first turns after a start are "
        "slower.",
    )
    # -- resilience (docs/deployment.md "Resilience") ----------------------------------------
    jobs: bool = Field(
        default=True,
        description="Whether `serve` also runs the background jobs (worker.py). off: leave "
        "them to `smartsupport worker` processes; on (default): one `serve` does everything.",
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        le=600,
        description="On SIGTERM, how long running turns and requests may take to finish "
        "before they are cut off (sockets are told at once to reconnect elsewhere).",
    )
    redis_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long one Redis command may take before it fails: a Redis that "
        "stops answering then gives 503 / close 1013 instead of hanging turns.",
    )
    outbox_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the outbox worker looks for due helpdesk and notification calls.",
    )
    outbox_max_age_hours: float = Field(
        default=72.0,
        gt=0,
        description="How long the outbox retries a failing call before moving it to the "
        "dead-letter state (kept for admins to inspect and requeue, never dropped).",
    )
    # -- events for data teams (events/, docs/events.md) ------------------------------------
    events_url: str = Field(
        default="",
        description="Unset: no events are published. amqp://user:password@host:5672/vhost "
        "(amqps:// for TLS): conversation, turn, handoff and feedback events go to RabbitMQ "
        "through the outbox, at least once (docs/events.md); needs smartsupport[events].",
    )
    events_exchange: str = Field(
        default="smartsupport.events",
        min_length=1,
        max_length=255,
        description="The durable topic exchange events are published to, routed by event "
        "type (conversation.started, turn.completed, handoff.requested, feedback.given).",
    )
    # -- privacy: retention and purge (docs/security.md) ------------------------------------
    retention_days: dict[str, int | None] = Field(
        default_factory=dict,
        description="Days each kind of data is kept, as JSON: conversations (default 90), "
        "analytics (anonymised events, 365), outbox (finished entries, 30); null keeps a "
        "kind forever. A workspace's privacy.retention overrides it.",
    )
    purge_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often the worker purges data older than its retention.",
    )
    # -- agent presence in the inbox (inbox/presence.py) ---------------------------------
    agent_status_at_sign_in: Literal["online", "away", "offline"] = Field(
        default="online",
        description="An agent's status when they open the inbox after signing in.",
    )
    agent_idle_minutes: float = Field(
        default=10.0,
        ge=0,
        le=24 * 60,
        description="An online agent with no keyboard or mouse activity in the inbox for this "
        "long is set to away (and back to online when they return); 0 turns it off.",
    )

    @field_validator("metrics_token")
    @classmethod
    def _strong_metrics_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError(
                "the metrics token must be 16 characters or more: e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )
        return token

    @field_validator("events_url")
    @classmethod
    def _known_events(cls, url: str) -> str:

        if not url:
            return url
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in EVENTS_SCHEMES:
            known = ", ".join(f"{s}://" for s in EVENTS_SCHEMES)
            raise ValueError(
                f"unknown events URL scheme {scheme or url!r}: known schemes are {known} (e.g. "
                "amqp://guest:guest@localhost:5672/), or leave SMARTSUPPORT_EVENTS_URL unset "
                "to publish no events"
            )
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise ValueError(
                f"events URL is malformed ({exc}): use amqp://user:password@host:5672/vhost"
            ) from None
        if not parts.hostname:
            raise ValueError("events URL names no host: use amqp://user:password@host:5672/vhost")
        return url

    @field_validator("retention_days")
    @classmethod
    def _known_kinds(cls, days: dict[str, int | None]) -> dict[str, int | None]:
        check_retention(days, "SMARTSUPPORT_RETENTION_DAYS")
        return days
