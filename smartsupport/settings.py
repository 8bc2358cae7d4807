"""One typed settings object, read from ``SMARTSUPPORT_*`` environment variables and an
optional TOML config file. Every setting is documented in README.md (a test checks that).

``Settings`` is one class assembled from parts by concept: the core (data, database, Redis,
limits, language models, helpdesks) here, and ``settings_channels``, ``settings_security``
and ``settings_operations``. Each setting still has one name, ``SMARTSUPPORT_<NAME>``.

Precedence, highest first: explicit keyword arguments, environment variables, the config file
(``SMARTSUPPORT_CONFIG_FILE`` or ``--config``), defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from smartsupport.errors import ConfigurationError
from smartsupport.llm.base import ProviderConfig
from smartsupport.settings_channels import ChannelSettings
from smartsupport.settings_operations import OperationsSettings
from smartsupport.settings_security import SecuritySettings

DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss", "memory")


class Settings(OperationsSettings, SecuritySettings, ChannelSettings, BaseSettings):
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
    def _resolution_check_has_llm(self) -> Settings:
        # The check asks the answer chain's models (their timeouts, retries and breakers):
        # on without one would quietly check nothing.
        if self.resolution_check and not any(s.startswith("llm:") for s in self.answer_chain):
            raise ValueError(
                "SMARTSUPPORT_RESOLUTION_CHECK is on but no language model is configured: add "
                "a provider to SMARTSUPPORT_LLM_PROVIDERS and name it as llm:NAME in "
                "SMARTSUPPORT_ANSWER_CHAIN, or set SMARTSUPPORT_RESOLUTION_CHECK=false"
            )
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
