"""One typed settings object, read from ``SMARTSUPPORT_*`` environment variables and an
optional TOML config file. Every setting is documented in README.md (a test checks that).

Precedence, highest first: explicit keyword arguments, environment variables, the config file
(``SMARTSUPPORT_CONFIG_FILE`` or ``--config``), defaults.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from smartsupport.data_policy import check_retention
from smartsupport.errors import ConfigurationError
from smartsupport.llm.base import ProviderConfig
from smartsupport.signin_policy import check_issuer, check_roles, check_sso
from smartsupport.transcription import SpeechConfig

DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss", "memory")
EVENTS_SCHEMES = ("amqp", "amqps")  # the publishers of events/__init__.py


class Settings(BaseSettings):
    """Everything smartsupport can be told. Build it once and pass it to ``create_app``."""

    model_config = SettingsConfigDict(env_prefix="SMARTSUPPORT_", extra="forbid")

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("smartsupport")),
        description="Where the SQLite database, the secret key and trained models live.",
    )
    database_url: str = Field(
        default="",
        description="sqlite:///path/file.db (default: smartsupport.db in the data directory) "
        "or postgresql://user:pass@host:5432/db.",
    )
    redis_url: str = Field(
        default="",
        description="Unset: sessions, locks, rate limits and fan-out stay in this process. "
        "redis://host:6379/0: Redis backs them, so several server processes can share work.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs visitor tokens. Unset: a random key is created once in the data "
        "directory. Set it explicitly when several servers share one database.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Where trained NLU models are cached, keyed by a hash of their training "
        "data (default: models/ in the data directory). Safe to share between servers.",
    )
    review_low_confidence: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="The review queue lists a message whose intent the model gave a "
        "calibrated confidence below this (docs/review.md).",
    )
    config_file: Path | None = Field(default=None, description="Optional TOML file of settings.")
    workspaces_dir: Path | None = Field(
        default=None,
        description="A directory of workspace YAML files to load at start-up.",
    )
    demo: bool = Field(default=True, description="Load the bundled demo workspace and shop.")
    public_url: str = Field(
        default="",
        description="The externally visible base URL (for links in answers and notifications).",
    )
    max_message_chars: int = Field(
        default=4000, ge=1, le=100_000, description="Longest accepted customer message."
    )
    session_ttl_seconds: int = Field(
        default=24 * 3600, ge=1, description="How long idle conversation context is kept."
    )
    rate_limit_per_minute: int = Field(
        default=60, ge=1, description="Messages one visitor may send per minute."
    )
    conversation_rate_limit_per_minute: int = Field(
        default=30, ge=1, description="Conversations one client address may start per minute."
    )
    log_level: str = Field(default="info", description="debug, info, warning or error.")
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
    # -- end of observability ------------------------------------------------------------------
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
    # -- end of analytics ----------------------------------------------------------------------
    llm_providers: list[ProviderConfig] = Field(
        default_factory=list,
        description="Language models, as a JSON list of objects: name, kind (openai: also "
        "Azure OpenAI, vLLM, Ollama, llama.cpp server; or anthropic), base_url, model, "
        "api_key, api_version (Azure only), timeout_seconds, max_retries, breaker_failures, "
        "breaker_reset_seconds, price_per_1k_input, price_per_1k_output, redact (replace "
        "emails, phones, cards, IBANs by placeholders before sending; default true).",
    )
    answer_chain: list[str] = Field(
        default_factory=lambda: ["extractive", "handoff", "offline"],
        description="How questions are answered, as a JSON list tried in order: llm:NAME "
        "(a provider of SMARTSUPPORT_LLM_PROVIDERS), extractive, handoff, offline. "
        'E.g. ["llm:primary", "llm:backup", "extractive", "handoff", "offline"].',
    )
    llm_max_tokens: int = Field(
        default=300, ge=16, le=4096, description="Longest generated answer, in tokens."
    )
    llm_temperature: float = Field(
        default=0.2, ge=0.0, le=2.0, description="Sampling temperature of generated answers."
    )

    helpdesk_api_token: SecretStr | None = Field(
        default=None,
        description="Zendesk API token or Freshdesk API key used by the helpdesk connector a "
        "workspace names in escalation.yaml (a workspace may name its own variable instead "
        "with api_token_env).",
    )
    helpdesk_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Zendesk webhook signing secret, or the shared secret Freshdesk sends "
        "with its webhooks; incoming helpdesk webhooks are refused without it "
        "(per workspace: webhook_secret_env).",
    )
    slack_bot_token: SecretStr | None = Field(
        default=None,
        description="Slack bot token (xoxb-...) for chat.postMessage escalation notices.",
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None,
        description="Slack incoming-webhook URL for escalation notices (instead of a bot token).",
    )
    teams_webhook_url: SecretStr | None = Field(
        default=None,
        description="Microsoft Teams incoming-webhook URL for escalation notice cards.",
    )
    outbox_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the outbox worker looks for due helpdesk and notification calls.",
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
    # -- end of events -------------------------------------------------------------------------
    outbox_max_age_hours: float = Field(
        default=72.0,
        gt=0,
        description="How long the outbox retries a failing call before moving it to the "
        "dead-letter state (kept for admins to inspect and requeue, never dropped).",
    )
    # -- security limits (docs/security.md) --------------------------------------------------
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body; larger ones get 413 before they are read.",
    )
    upload_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest request body on the knowledge-article admin routes and the "
        "attachment uploads (which then have their own SMARTSUPPORT_ATTACHMENT_MAX_BYTES).",
    )
    visitor_token_ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long a visitor token is valid after it is issued.",
    )
    ws_sockets_per_conversation: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Widget WebSockets one conversation may hold open in one server process.",
    )
    ws_typing_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="At most one typing frame per socket is passed on per interval.",
    )
    ws_compression: bool = Field(
        default=False,
        description="permessage-deflate on WebSockets. Off: widget frames are small, and "
        "compression holds about 64 KiB of zlib state per open socket (bench/idle_sockets.py).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description='JSON list of proxy addresses or networks (e.g. ["10.0.0.0/8"]) whose '
        "X-Forwarded-For header names the client; from any other peer it is ignored.",
    )
    demo_shop_public: bool = Field(
        default=False,
        description="Serve the demo shop's API to non-loopback clients (it holds a demo "
        "customer's email and phone). Off: only requests from this machine reach it.",
    )
    # -- field encryption at rest (keyring.py, encryption.py; docs/security.md) ------------
    encryption: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: message text, customer PII and metadata, notes and outbox payloads "
        "are sealed with AES-256-GCM; keys from SMARTSUPPORT_ENCRYPTION_KEYS or "
        "SMARTSUPPORT_ENCRYPTION_KEY_FILE, else (SQLite only) a key file created beside the "
        "database. off: stored in clear (PostgreSQL needs keys or this, explicitly).",
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description='The keyring as JSON: {"primary": ID, "keys": {ID: BASE64}, '
        '"index_key": BASE64} (`smartsupport keys create --print`).',
    )
    encryption_key_file: Path | None = Field(
        default=None,
        description="A keyring file (mode 0600), as written by `smartsupport keys create`. "
        "Default on SQLite: the database file's name plus .keys, created on first start.",
    )

    # -- email channel (channels/email*.py; README "Email channel") --------------------------
    email_imap_url: SecretStr | None = Field(
        default=None,
        description="The support mailbox the email channel reads: imaps://user:pass@host:993/"
        "INBOX (or imap:// without TLS). Unset: no global mailbox (a workspace may name its "
        "own in workspace.yaml email.imap_url_env).",
    )
    email_smtp_url: SecretStr | None = Field(
        default=None,
        description="How email replies are sent: smtps://user:pass@host:465, "
        "smtp+starttls://user:pass@host:587 or smtp://host:25. Required with "
        "SMARTSUPPORT_EMAIL_IMAP_URL.",
    )
    email_from: str = Field(
        default="",
        description='The From of email replies, e.g. "Acme Support <support@acme.example>". '
        "Required with SMARTSUPPORT_EMAIL_IMAP_URL.",
    )
    email_workspace: str = Field(
        default="",
        description="The workspace the global mailbox feeds (may be left empty when only one "
        "workspace is loaded).",
    )
    email_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often the mailbox is checked when the IMAP server has no IDLE (with "
        "IDLE, new mail is seen at once and this is how often the connection is renewed).",
    )
    email_attachments_dir: Path | None = Field(
        default=None,
        description="Where email attachments are stored (default: attachments/ in the data "
        "directory).",
    )
    email_max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=0,
        description="Largest attachment kept from an email; larger ones are listed on the "
        "message as refused, not stored.",
    )
    # -- attachments and voice notes (docs/attachments.md) --------------------------------
    attachments_url: str = Field(
        default="",
        description="Where attachments are stored (widget uploads, voice notes, agents' "
        "files, email and channel media): file:///path or a directory path. Default: "
        "SMARTSUPPORT_EMAIL_ATTACHMENTS_DIR when set, else attachments/ in the data directory.",
    )
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest file a customer or an agent may upload (images, PDFs, voice "
        "notes); larger ones get 413 with the limit in the message.",
    )
    speech_provider: SpeechConfig | None = Field(
        default=None,
        description="Speech to text for voice notes, as a JSON object: base_url (an "
        "OpenAI-compatible /v1/audio/transcriptions server: OpenAI, whisper.cpp server, "
        "faster-whisper), model (default whisper-1), api_key, timeout_seconds, max_retries, "
        "breaker_failures, breaker_reset_seconds. Unset: the assistant tells the customer it "
        "cannot listen to audio, in their language, and offers a person.",
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

    # -- staff sign-in: SSO, MFA, API keys (staff/sso*.py, staff/mfa.py; docs/security.md) --
    sso_issuer: str = Field(
        default="",
        description="OpenID Connect issuer URL of the staff's identity provider (its discovery "
        "document is ISSUER/.well-known/openid-configuration). Unset: no single sign-on.",
    )
    sso_client_id: str = Field(default="", description="The client id registered at the provider.")
    sso_client_secret: SecretStr | None = Field(
        default=None, description="The client secret registered at the provider."
    )
    sso_allowed_domains: list[str] = Field(
        default_factory=list,
        description='JSON list of email domains allowed to sign in by SSO, e.g. ["example.com"]'
        " (required with SMARTSUPPORT_SSO_ISSUER).",
    )
    sso_new_staff_role: str = Field(
        default="none",
        description="What the first SSO sign-in of an email with no staff account does: none "
        "(refused; an admin creates the account first) or agent / supervisor (created with "
        "that role). Never admin.",
    )
    sso_new_staff_workspaces: list[str] = Field(
        default_factory=list,
        description="JSON list of the workspaces of accounts created by SSO sign-in.",
    )
    sso_email_verified_required: bool = Field(
        default=True,
        description="Accept only ID tokens whose email_verified claim is true (turn off only "
        "for providers that never send it, such as Azure AD / Entra ID).",
    )
    sso_mfa_amr: list[str] = Field(
        default_factory=lambda: ["mfa"],
        description="JSON list of amr values (RFC 8176) of an ID token that count as the "
        "second factor; [] with an empty SMARTSUPPORT_SSO_MFA_ACR: SSO never satisfies MFA.",
    )
    sso_mfa_acr: list[str] = Field(
        default_factory=list,
        description="JSON list of acr values of an ID token that count as the second factor.",
    )
    mfa_required_roles: list[str] = Field(
        default_factory=list,
        description='JSON list of roles that must use a second factor, e.g. ["admin", '
        '"supervisor"]; a member who has not enrolled TOTP is held at enrolment.',
    )
    api_key_rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description="Requests one API key may make per minute on the staff and admin routes "
        "(a key may carry its own limit).",
    )

    @field_validator("sso_issuer")
    @classmethod
    def _sso_issuer(cls, issuer: str) -> str:
        return check_issuer(issuer.strip())

    @field_validator("mfa_required_roles")
    @classmethod
    def _mfa_roles(cls, roles: list[str]) -> list[str]:
        return check_roles(roles, "SMARTSUPPORT_MFA_REQUIRED_ROLES")

    @model_validator(mode="after")
    def _sso_complete(self) -> Settings:
        check_sso(
            issuer=self.sso_issuer,
            client_id=self.sso_client_id,
            has_secret=bool(self.sso_client_secret and self.sso_client_secret.get_secret_value()),
            allowed_domains=self.sso_allowed_domains,
            new_staff_role=self.sso_new_staff_role,
            new_staff_workspaces=self.sso_new_staff_workspaces,
        )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if url and url.split(":", 1)[0].split("+", 1)[0] not in DATABASE_SCHEMES:
            raise ValueError(
                f"unknown database URL {url!r}: use sqlite:///path/to/file.db or "
                "postgresql://user:password@host:5432/dbname"
            )
        return url

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, url: str) -> str:
        if url and url.split(":", 1)[0] not in REDIS_SCHEMES:
            raise ValueError(
                f"unknown Redis URL {url!r}: use redis://host:6379/0 (or rediss:// for TLS), "
                "or leave SMARTSUPPORT_REDIS_URL unset to keep state in this process"
            )
        return url

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, proxies: list[str]) -> list[str]:

        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {proxy!r} is not an address or network: use e.g. "
                    '["10.0.0.5", "10.1.0.0/16"]'
                ) from None
        return proxies

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

    @field_validator("metrics_token")
    @classmethod
    def _strong_metrics_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError(
                "the metrics token must be 16 characters or more: e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )
        return token

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("log_level must be debug, info, warning or error")
        return level.lower()

    @model_validator(mode="after")
    def _answer_chain_known(self) -> Settings:
        names = [p.name for p in self.llm_providers]
        if len(set(names)) != len(names):
            raise ValueError("SMARTSUPPORT_LLM_PROVIDERS: two providers share a name")
        for step in self.answer_chain:
            if step in ("extractive", "handoff", "offline"):
                continue
            if step.startswith("llm:") and step[4:] in names:
                continue
            hint = (
                f"add a provider named {step[4:]!r} to SMARTSUPPORT_LLM_PROVIDERS"
                if step.startswith("llm:")
                else "use llm:NAME, extractive, handoff or offline"
            )
            raise ValueError(f"SMARTSUPPORT_ANSWER_CHAIN: unknown step {step!r}: {hint}")
        if len(set(self.answer_chain)) != len(self.answer_chain):
            raise ValueError("SMARTSUPPORT_ANSWER_CHAIN: a step is listed twice")
        return self

    @model_validator(mode="after")
    def _defaults_from_data_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'smartsupport.db'}"
        return self

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url) and not self.redis_url.startswith("memory")

    def resolved_secret_key(self) -> bytes:
        """The signing key: the configured one, or one created once in the data directory."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(os.urandom(32).hex())
        return path.read_text().strip().encode()


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional TOML config file named by SMARTSUPPORT_CONFIG_FILE."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("SMARTSUPPORT_CONFIG_FILE")
        if not path:
            return {}
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigurationError(
                f"config file {path} does not exist: fix SMARTSUPPORT_CONFIG_FILE"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from exc
        section = data.get("smartsupport", data)
        return {str(k).replace("-", "_"): v for k, v in section.items()}


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning validation errors into one ConfigurationError that names the fix."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    _reject_unknown_variables()
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        # e.g. SMARTSUPPORT_LLM_PROVIDERS that is not valid JSON
        cause = exc.__cause__ or exc
        raise ConfigurationError(f"invalid settings: {exc} ({cause})") from exc
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            env = f"SMARTSUPPORT_{name.upper()}"
            problems.append(f"{env}: {err['msg']}")
        raise ConfigurationError("invalid settings:\n  " + "\n  ".join(problems)) from exc


def _reject_unknown_variables() -> None:
    """A mistyped variable must not be silently ignored (the deployment would quietly run
    on a default, e.g. a local SQLite file instead of PostgreSQL)."""
    import difflib

    known = {f"SMARTSUPPORT_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(k for k in os.environ if k.startswith("SMARTSUPPORT_") and k not in known)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name}" + (f" (did you mean {close[0]}?)" if close else ""))
        raise ConfigurationError(
            "unknown setting(s): " + ", ".join(hints) + ". See the settings table in README.md."
        )
