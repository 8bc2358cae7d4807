"""Workspace configuration: a directory per workspace.

    <dir>/workspace.yaml    id, name, locales, the first FAQ answers, response templates
    <dir>/intents.yaml      NLU intents, rules and entity patterns   (section "nlu")
    <dir>/flows.yaml        dialogue flows                            (section "flows")
    <dir>/escalation.yaml   handoff rules, business hours             (section "escalation")
    <dir>/articles/         help articles for the knowledge base

Each section file is optional and becomes one top-level key of the config, so each feature
owns its file and its schema; ``WorkspaceConfig`` validates the common part and keeps the
sections as plain data for their features to validate with their own models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from smartsupport.errors import ConfigurationError

SECTION_FILES = {"nlu": "intents.yaml", "flows": "flows.yaml", "escalation": "escalation.yaml"}
DEMO_DIR = Path(__file__).parent / "demo"
T = TypeVar("T")


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: list[str] = Field(min_length=1)
    answer: str


class WorkspaceConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    name: str
    default_locale: str = "en"
    greeting: str = "Hi! I'm the virtual assistant. How can I help you today?"
    fallback: str = (
        "Sorry, I didn't understand that. You can rephrase, or type 'agent' to talk to a person."
    )
    handoff_message: str = "I'm connecting you with a member of our team. Please wait a moment."
    quick_replies: list[str] = Field(default_factory=list)
    faq: list[FaqEntry] = Field(default_factory=list)
    articles_dir: Path | None = None
    source_dir: Path | None = None

    @field_validator("quick_replies")
    @classmethod
    def _short_replies(cls, replies: list[str]) -> list[str]:
        for reply in replies:
            if not reply.strip() or len(reply) > 80:
                raise ValueError("quick replies must be 1 to 80 characters")
        return replies

    # Each feature's validated section, parsed once: the config does not change once loaded.
    _parsed: dict[str, Any] = PrivateAttr(default_factory=dict)

    def parsed(self, name: str, parse: Callable[[dict[str, Any]], T]) -> T:
        """Section ``name`` validated by ``parse``, cached on this workspace object, so a
        feature that reads its config on every turn does not re-validate YAML."""
        if name not in self._parsed:
            self._parsed[name] = parse(self.section(name))
        return self._parsed[name]  # type: ignore[no-any-return]

    def section(self, name: str) -> dict[str, Any]:
        """A feature's section (``nlu``, ``flows``, ``escalation``), or an empty dict."""
        value = (self.model_extra or {}).get(name)
        return value if isinstance(value, dict) else {}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
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
