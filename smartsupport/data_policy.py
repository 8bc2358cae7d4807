"""A workspace's data policy: how long each kind of data is kept, and the consent the widget
asks for. The ``privacy:`` section of ``workspace.yaml``::

    privacy:
      consent:
        version: "2026-01"        # turns the consent step on; bump it when the text changes
        people_only: true         # offer "answer me with people only" (default true)
      retention:                  # days; null keeps that kind forever
        conversations: 90         # conversations idle this long are deleted with everything
                                  # about them (messages, notes, tickets' mappings, outbox)
        analytics: 365            # anonymised events (kept after their conversation goes)
        outbox: 30                # finished or dead outbox entries (their payloads)

Retention falls back to ``SMARTSUPPORT_RETENTION_DAYS`` and then to ``DEFAULT_RETENTION``.
The consent texts are message-catalog keys (``consent.text``, ``consent.people_only``,
``consent.accept``) that a workspace rewrites under ``messages:`` like any other text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smartsupport.errors import ConfigurationError
from smartsupport.workspaces import WorkspaceConfig

# GDPR art. 5(1)(e) asks for a limit, not a number: 90 days covers a support case and its
# follow-ups; analytics are anonymised before they outlive their conversation.
DEFAULT_RETENTION: dict[str, int | None] = {"conversations": 90, "analytics": 365, "outbox": 30}
KINDS = tuple(DEFAULT_RETENTION)


class ConsentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=64)
    people_only: bool = True


class DataPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent: ConsentConfig | None = None
    retention: dict[str, int | None] = Field(default_factory=dict)

    def days(self, kind: str, defaults: Mapping[str, int | None]) -> int | None:
        """Days to keep ``kind``: the workspace's, else ``defaults`` (settings), else ours."""
        if kind in self.retention:
            return self.retention[kind]
        return defaults.get(kind, DEFAULT_RETENTION[kind])


def check_retention(days: Mapping[str, Any], where: str) -> None:
    """ValueError naming ``where`` for an unknown kind or a value that is not >= 1 days."""
    for kind, value in days.items():
        if kind not in KINDS:
            raise ValueError(f"{where}: unknown data kind {kind!r}; use {', '.join(KINDS)}")
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{where}.{kind}: days must be a whole number >= 1, or null")


def _parse(section: dict[str, Any]) -> DataPolicy:
    policy = DataPolicy.model_validate(section)
    check_retention(policy.retention, "privacy.retention")
    return policy


def for_workspace(workspace: WorkspaceConfig) -> DataPolicy:
    """The workspace's validated ``privacy`` section (parsed once per workspace object)."""
    try:
        return workspace.parsed("privacy", _parse)
    except (ValidationError, ValueError) as exc:
        raise ConfigurationError(f"workspace {workspace.id!r}: invalid privacy: {exc}") from exc


def check_workspaces(workspaces: Mapping[str, WorkspaceConfig]) -> None:
    """Validate every workspace's section at start-up: a typo stops the server."""
    for workspace in workspaces.values():
        for_workspace(workspace)
