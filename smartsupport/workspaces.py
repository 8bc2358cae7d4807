"""Workspace configuration: a directory per workspace.

    <dir>/workspace.yaml    id, name, locales, the first FAQ answers, response templates
    <dir>/intents.yaml      NLU intents, rules and entity patterns   (section "nlu")
    <dir>/flows.yaml        dialogue flows                            (section "flows")
    <dir>/escalation.yaml   handoff rules, business hours             (section "escalation")
    <dir>/articles/         help articles for the knowledge base

Each section file is optional and becomes one top-level key of the config, so each feature
owns its file and its schema; ``WorkspaceConfig`` validates the common part and keeps the
sections as plain data for their features to validate with their own models.

Customer-facing texts (``greeting``, ``fallback``, ``handoff_message``, a ``messages:``
mapping of any message-catalog key, the ``messages`` of ``escalation.yaml`` and the
``no_answer``/``offline`` templates) are each a string in the workspace's default language or
a mapping language -> string; they are collected into ``texts`` for ``messages.text``, which
picks the customer's language (docs/languages.md). ``facts`` are the workspace's policy
figures (return window, refund times, shipping prices) that flows quote.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from smartsupport import messages
from smartsupport.errors import ConfigurationError
from smartsupport.yaml_text import load_yaml

SECTION_FILES = {"nlu": "intents.yaml", "flows": "flows.yaml", "escalation": "escalation.yaml"}
DEMO_DIR = Path(__file__).parent / "demo"
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_MISSING = object()  # a parsed section may be None

# Catalog keys a workspace writes outside its ``messages:`` mapping: (section or None for
# workspace.yaml, field). The top-level fields hold the default language's text once loaded.
TEXT_FIELDS: dict[str, tuple[str | None, str]] = {
    "greeting": (None, "greeting"),
    "fallback": (None, "fallback"),
    "handoff.message": (None, "handoff_message"),
    "handoff.offer": ("escalation", "offer"),
    "handoff.offer_button": ("escalation", "offer_button"),
    "handoff.offline": ("escalation", "offline"),
    "handoff.overflow": ("escalation", "overflow"),
    "handoff.ticket_created": ("escalation", "ticket_created"),
    "knowledge.no_answer": ("templates", "no_answer"),
    "knowledge.offline": ("templates", "offline"),
    "knowledge.answer": ("templates", "kb_answer"),  # also ``kb_answer.es``-style keys
}
Fact = str | int | float | bool


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: list[str] = Field(min_length=1)
    answer: str  # in the workspace's default language
    # The answer in other languages, by language code ({"es": "...", "de": "..."}).
    translations: dict[str, str] = Field(default_factory=dict)


class WorkspaceConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    name: str
    default_locale: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
    # The texts in the default language; the catalog's when the workspace wrote none.
    greeting: str = ""
    fallback: str = ""
    handoff_message: str = ""
    quick_replies: list[str] = Field(default_factory=list)
    faq: list[FaqEntry] = Field(default_factory=list)
    facts: dict[str, Fact] = Field(default_factory=dict)
    articles_dir: Path | None = None
    source_dir: Path | None = None
    # Collected when loading (not written as such): catalog key -> language -> the
    # workspace's own text, and language -> greeting quick replies.
    texts: dict[str, dict[str, str]] = Field(default_factory=dict)
    quick_reply_texts: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_texts(cls, data: Any) -> Any:
        """Every text the workspace wrote, as ``texts[key][language]``; the top-level fields
        keep the default language's text (so code that shows one text still can)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for computed in ("texts", "quick_reply_texts"):
            if computed in data:
                raise ValueError(f"{computed!r} is not a setting; write messages: instead")
        default = messages.normalise(str(data.get("default_locale") or "en"))
        texts = _written_texts(data, default)
        for section, name in TEXT_FIELDS.values():
            if section is None:
                data.pop(name, None)  # filled in from ``texts`` once validated
        replies = data.get("quick_replies")
        if isinstance(replies, dict):
            data["quick_reply_texts"] = {
                messages.normalise(str(lang)): value for lang, value in replies.items()
            }
            data["quick_replies"] = data["quick_reply_texts"].get(default, [])
        elif isinstance(replies, list):
            data["quick_reply_texts"] = {default: replies}
        data["texts"] = texts
        return data

    @model_validator(mode="after")
    def _default_texts(self) -> WorkspaceConfig:
        language = self.default_locale
        self.greeting = messages.text(self, "greeting", language)
        self.fallback = messages.text(self, "fallback", language)
        self.handoff_message = messages.text(self, "handoff.message", language)
        return self

    @field_validator("quick_replies")
    @classmethod
    def _short_replies(cls, replies: list[str]) -> list[str]:
        for reply in replies:
            if not reply.strip() or len(reply) > 80:
                raise ValueError("quick replies must be 1 to 80 characters")
        return replies

    @field_validator("quick_reply_texts")
    @classmethod
    def _short_replies_per_language(cls, found: dict[str, list[str]]) -> dict[str, list[str]]:
        for replies in found.values():
            cls._short_replies(replies)
        return found

    # Each feature's validated section, parsed once: the config does not change once loaded.
    _parsed: dict[str, Any] = PrivateAttr(default_factory=dict)

    def parsed(self, name: str, parse: Callable[[dict[str, Any]], T]) -> T:
        """Section ``name`` validated by ``parse``, cached on this workspace object, so a
        feature that reads its config on every turn does not re-validate YAML."""
        # Not ``self._parsed``: pydantic reads a private attribute through ``__getattr__``
        # (5 µs here), and a turn asks for its workspace's sections about twenty times.
        cache = self.__pydantic_private__["_parsed"]  # type: ignore[index]
        found = cache.get(name, _MISSING)
        if found is _MISSING:
            found = cache[name] = parse(self.section(name))
        return found  # type: ignore[no-any-return]

    def checked(self, name: str, model: type[M]) -> M:
        """Section ``name`` as ``model`` (its defaults where it says nothing), parsed once;
        ConfigurationError names each wrong value and where it is."""
        try:
            return self.parsed(name, model.model_validate)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigurationError(f"workspace {self.id} {name}: {problems}") from exc

    def section(self, name: str) -> dict[str, Any]:
        """A feature's section (``nlu``, ``flows``, ``escalation``), or an empty dict."""
        value = (self.model_extra or {}).get(name)
        return value if isinstance(value, dict) else {}


def _written_texts(data: dict[str, Any], default: str) -> dict[str, dict[str, str]]:
    """Every catalog text the raw workspace data writes, as ``{key: {language: text}}``
    (``messages:`` is taken out of ``data``); ValueError lists every problem."""
    texts: dict[str, dict[str, str]] = {}
    places: dict[str, str] = {}
    for key, (section, name) in TEXT_FIELDS.items():
        place = _text_place(data, section)
        if place.get(name) is not None:
            places[key] = {None: name, "templates": f"templates.{name}"}.get(
                section, f"escalation.yaml messages.{name}"
            )
            texts[key] = messages.per_language(place[name], default, places[key])
        if section == "templates":  # the knowledge base's older "kb_answer.es" form
            for field, value in place.items():
                if str(field).startswith(f"{name}.") and value is not None:
                    places.setdefault(key, f"templates.{name}")
                    language = str(field).split(".", 1)[1]
                    found = messages.per_language({language: value}, default, "templates")
                    texts[key] = {**texts.get(key, {}), **found}
    own = data.pop("messages", None) or {}
    if not isinstance(own, dict):
        raise ValueError("messages: must map message keys to texts")
    problems: list[str] = []
    for key, value in own.items():
        if key in texts:
            problems.append(f"messages.{key}: also written as {places[key]}; keep one")
            continue
        places[str(key)] = f"messages.{key}"
        texts[str(key)] = messages.per_language(value, default, places[str(key)])
    for key, written in texts.items():
        problems += messages.check_text(key, written, places[key])
    if problems:
        raise ValueError("; ".join(problems))
    return texts


def _text_place(data: dict[str, Any], section: str | None) -> dict[str, Any]:
    """Where the texts of ``section`` are written in the raw workspace data."""
    if section is None:
        return data
    found = data.get(section)
    if section == "escalation" and isinstance(found, dict):
        found = found.get("messages")
    return found if isinstance(found, dict) else {}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read workspace configuration: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a mapping at the top level")
    return data


def load_workspace_dir(directory: Path) -> WorkspaceConfig:
    """Read and validate one workspace directory; errors name the file and the field."""
    main = directory / "workspace.yaml"
    if not main.is_file():
        raise ConfigurationError(f"{directory}: a workspace directory needs a workspace.yaml")
    data = _read_yaml(main)
    for section, filename in SECTION_FILES.items():
        path = directory / filename
        if path.is_file():
            data[section] = _read_yaml(path)
    if (directory / "articles").is_dir():
        data.setdefault("articles_dir", str(directory / "articles"))
    data["source_dir"] = str(directory)
    try:
        return WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigurationError(f"{main}: invalid workspace:\n  " + "\n  ".join(lines)) from exc


def discover_workspaces(workspaces_dir: Path | None, *, demo: bool) -> list[WorkspaceConfig]:
    """The demo workspace (when enabled) and every workspace directory under ``workspaces_dir``."""
    found: list[WorkspaceConfig] = []
    if demo:
        found.append(load_workspace_dir(DEMO_DIR))
    if workspaces_dir is not None:
        if not workspaces_dir.is_dir():
            raise ConfigurationError(
                f"SMARTSUPPORT_WORKSPACES_DIR={workspaces_dir} is not a directory"
            )
        for child in sorted(workspaces_dir.iterdir()):
            if (child / "workspace.yaml").is_file():
                found.append(load_workspace_dir(child))
    ids = [w.id for w in found]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigurationError(f"workspace id(s) defined twice: {', '.join(dupes)}")
    return found
