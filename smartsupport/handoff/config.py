"""The schema of a workspace's ``escalation.yaml`` (its ``escalation`` section).

    rules:            when a conversation needs a person, and what to do (see rules.py)
    business_hours:   when people are there (business_hours.py)
    overflow:         how long a customer waits for a person before we take a ticket instead
    helpdesk:         the Zendesk or Freshdesk account tickets go to
    notify:           Slack and Teams notices on escalation
    messages:         what the customer is told
    routing:          skills per intent, teams' skills and languages, response-time SLAs

Everything is validated when the server starts (``check_workspaces``); an error names the
file, the field and what is allowed, and stops start-up instead of silently disabling a rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smartsupport.business_hours import BusinessHours
from smartsupport.errors import ConfigurationError
from smartsupport.settings import Settings
from smartsupport.workspaces import WorkspaceConfig

Action = Literal["offer_human", "transfer", "raise_priority"]
Priority = Literal["low", "normal", "high", "urgent"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    action: Action
    priority: Priority | None = Field(
        default=None, description="Priority to raise to (raise_priority; optional otherwise)."
    )
    repeat: bool = Field(
        default=False, description="Fire again later in the same conversation (default: once)."
    )


class SentimentRule(_Rule):
    type: Literal["sentiment"]
    below: float = Field(ge=-1.0, le=1.0)


class LowConfidenceRule(_Rule):
    type: Literal["low_confidence"]
    below: float = Field(default=0.4, ge=0.0, le=1.0)
    times: int = Field(default=2, ge=1, le=50, description="Consecutive turns not understood.")


class RepeatedQuestionRule(_Rule):
    type: Literal["repeated_question"]
    times: int = Field(default=3, ge=2, le=20)
    method: Literal["normalized", "embedding"] = "normalized"
    similarity: float = Field(default=0.85, gt=0.0, le=1.0)


class KeywordsRule(_Rule):
    type: Literal["keywords"]
    words: list[str] | None = Field(
        default=None, description="Replaces the built-in multilingual list when given."
    )
    extra_words: list[str] = Field(default_factory=list)

    @field_validator("words", "extra_words")
    @classmethod
    def _not_blank(cls, words: list[str] | None) -> list[str] | None:
        if words is not None and any(not w.strip() for w in words):
            raise ValueError("keywords must not be blank")
        return words


class SegmentRule(_Rule):
    type: Literal["segment"]
    segments: list[str] = Field(min_length=1)


class DurationRule(_Rule):
    type: Literal["duration"]
    minutes: float = Field(gt=0)


class HumanRequestRule(_Rule):
    type: Literal["human_request"]
    extra_phrases: list[str] = Field(default_factory=list)


class HumansOnlyRule(_Rule):
    type: Literal["humans_only"]


Rule = Annotated[
    SentimentRule
    | LowConfidenceRule
    | RepeatedQuestionRule
    | KeywordsRule
    | SegmentRule
    | DurationRule
    | HumanRequestRule
    | HumansOnlyRule,
    Field(discriminator="type"),
]


class Overflow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wait_minutes: float = Field(
        default=5.0, gt=0, description="Waiting longer than this for a person: take a ticket."
    )


class LowConfidenceBatching(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    window_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)


class HelpdeskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["zendesk", "freshdesk"]
    url: str = Field(pattern=r"^https?://[^\s/]+", description="https://acme.zendesk.com")
    email: str | None = Field(
        default=None, description="Zendesk: the agent email the API token belongs to."
    )
    api_token_env: str | None = Field(
        default=None, description="Environment variable with this workspace's API token."
    )
    webhook_secret_env: str | None = None
    tags: list[str] = Field(default_factory=lambda: ["smartsupport"])
    batch_low_confidence: LowConfidenceBatching = Field(default_factory=LowConfidenceBatching)
    ticket_on_handoff: bool = Field(
        default=False,
        description="A conversation handed to the inbox also gets a helpdesk ticket "
        "(helpdesk/handoff_tickets.py); off: tickets only from the contact form.",
    )

    @field_validator("url")
    @classmethod
    def _strip(cls, url: str) -> str:
        return url.rstrip("/")


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str | None = Field(
        default=None, description="Channel id or name for chat.postMessage (bot token)."
    )
    api_url: str = Field(default="https://slack.com/api", pattern=r"^https?://")


class TeamsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slack: SlackConfig | None = None
    teams: TeamsConfig | None = None


Text = str | dict[str, str]


class Messages(BaseModel):
    """What the customer is told. Each is a text in the workspace's default language or a
    mapping language -> text; left out, the product's own text in the customer's language
    (the message catalog, ``messages.py``: keys ``handoff.offer``, ``handoff.offer_button``,
    ...). Read them with ``messages.text``, never from here: it picks the language."""

    model_config = ConfigDict(extra="forbid")
    offer: Text | None = None
    offer_button: Text | None = None
    offline: Text | None = None
    overflow: Text | None = None
    ticket_created: Text | None = Field(
        default=None, description="Placeholders: {reference}, {email}."
    )

    @field_validator("offer_button")
    @classmethod
    def _short_button(cls, button: Text | None) -> Text | None:
        labels = [button] if isinstance(button, str) else list((button or {}).values())
        if any(len(label) > 80 for label in labels):
            raise ValueError("a button label must be at most 80 characters")
        return button


class Sla(BaseModel):
    """Response-time targets for people (inbox/routing.py): the first reply after the
    conversation started waiting, and each next reply after the customer wrote."""

    model_config = ConfigDict(extra="forbid")
    first_response_seconds: float = Field(default=300, gt=0, le=7 * 86400)
    next_response_seconds: float = Field(default=600, gt=0, le=7 * 86400)
    warn_ratio: float = Field(
        default=0.8, gt=0, lt=1, description="Warn once this share of the time has passed."
    )


class TeamRouting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skills: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


class Routing(BaseModel):
    """Who may be offered a waiting conversation (inbox/routing.py)."""

    model_config = ConfigDict(extra="forbid")
    skills: dict[str, str] = Field(
        default_factory=dict,
        description="intent -> the skill an agent needs to be offered it ('refund': billing)",
    )
    teams: dict[str, TeamRouting] = Field(
        default_factory=dict, description="Skills and languages every member of a team has."
    )
    sla: Sla = Field(default_factory=Sla)


class HandoffConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] = Field(default_factory=list)
    business_hours: BusinessHours | None = None
    overflow: Overflow = Field(default_factory=Overflow)
    helpdesk: HelpdeskConfig | None = None
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    messages: Messages = Field(default_factory=Messages)
    routing: Routing = Field(default_factory=Routing)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Any]) -> list[Any]:
        names = [r.name for r in rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(dupes)}")
        for rule in rules:
            if rule.action == "raise_priority" and rule.priority is None:
                raise ValueError(f"rule {rule.name!r}: raise_priority needs a priority")
        return rules


def parse(data: dict[str, Any], *, source: str = "escalation.yaml") -> HandoffConfig:
    """Validate an ``escalation`` section; ConfigurationError lists every problem by path."""
    try:
        return HandoffConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"{where}: {err['msg']}")
        raise ConfigurationError(
            f"{source}: invalid escalation config:\n  " + "\n  ".join(lines)
        ) from exc


def for_workspace(workspace: WorkspaceConfig) -> HandoffConfig:
    """The workspace's parsed config (cached on the workspace object)."""
    return workspace.parsed("escalation", lambda data: parse(data, source=_source(workspace)))


def _source(workspace: WorkspaceConfig) -> str:
    return str(workspace.source_dir / "escalation.yaml") if workspace.source_dir else workspace.id


def check_workspaces(
    workspaces: Iterable[WorkspaceConfig], settings: Settings | None = None
) -> None:
    """Validate every workspace's escalation config and, given the settings, that the
    secrets its helpdesk and notices need are set (called at start-up)."""
    for workspace in workspaces:
        config = for_workspace(workspace)
        if settings is None:
            continue
        where = f"workspace {workspace.id!r} (escalation.yaml)"
        if config.helpdesk is not None:
            env = config.helpdesk.api_token_env
            if env and not os.environ.get(env):
                raise ConfigurationError(
                    f"{where} reads its helpdesk token from {env}, which is not set"
                )
            if not env and settings.helpdesk_api_token is None:
                raise ConfigurationError(
                    f"{where} sends tickets to {config.helpdesk.provider}: set "
                    "SMARTSUPPORT_HELPDESK_API_TOKEN (or helpdesk.api_token_env)"
                )
            if config.helpdesk.provider == "zendesk" and not config.helpdesk.email:
                raise ConfigurationError(
                    f"{where}: Zendesk needs helpdesk.email (the token's agent)"
                )
        slack = config.notify.slack
        if slack is not None and not (
            (settings.slack_bot_token is not None and slack.channel)
            or settings.slack_webhook_url is not None
        ):
            raise ConfigurationError(
                f"{where} turns on Slack notices: set SMARTSUPPORT_SLACK_BOT_TOKEN and "
                "notify.slack.channel, or SMARTSUPPORT_SLACK_WEBHOOK_URL"
            )
        teams = config.notify.teams
        if teams is not None and teams.enabled and settings.teams_webhook_url is None:
            raise ConfigurationError(
                f"{where} turns on Teams notices: set SMARTSUPPORT_TEAMS_WEBHOOK_URL"
            )
