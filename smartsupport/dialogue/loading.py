"""Loading a workspace's flows: validate ``flows.yaml`` against the schema, cross-check its
names (actions, backends, slots, intents, templates) and compile every flow to its program, so
a mistake stops start-up with the file, flow and field named. A text written per language must
include the workspace's default language: it is what every other language falls back to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from smartsupport import messages
from smartsupport.dialogue.program import compile_flow
from smartsupport.dialogue.schema import FlowsConfig, check_expression, check_templates
from smartsupport.errors import ConfigurationError

# The fields that hold what a customer reads (schema.Text and schema.Buttons).
TEXT_FIELDS = {
    "ask", "invalid", "say", "confirm", "quick_replies", "error_message", "stuck_message",
    "cancel_message", "deny_message", "resume_message",
}  # fmt: skip


def load_flows(
    section: dict[str, Any],
    source: Path | str = "flows.yaml",
    *,
    default_language: str | None = None,
) -> FlowsConfig:
    """Validate a workspace's ``flows`` section; ConfigurationError names file/flow/field.
    ``default_language``: the workspace's, which every per-language text must have."""
    # Top-level keys starting with "x-" hold YAML anchors (shared slots), not configuration.
    section = {k: v for k, v in section.items() if not str(k).startswith("x-")}
    if default_language:
        missing = _without_default(section, messages.normalise(default_language), "")
        if missing:
            raise ConfigurationError(
                f"{source}: invalid flows: these texts have no {default_language!r} version "
                "(the workspace's default language, which the others fall back to):\n  "
                + "\n  ".join(missing)
            )
    try:
        config = FlowsConfig.model_validate(
            section, context={"default_language": default_language or "en"}
        )
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = [str(p) for p in e["loc"]]
            if len(loc) >= 2 and loc[0] == "flows":
                lines.append(f"flow {loc[1]!r}, {'.'.join(loc[2:]) or 'value'}: {e['msg']}")
            else:
                lines.append(f"{'.'.join(loc) or 'value'}: {e['msg']}")
        raise ConfigurationError(f"{source}: invalid flows:\n  " + "\n  ".join(lines)) from exc
    problems: list[str] = []
    for name, action in config.actions.items():
        if action.backend not in config.backends:
            problems.append(f"action {name!r}, backend: unknown backend {action.backend!r}")
        for field_name, value in (
            ("path", action.path),
            ("params", action.params),
            ("body", action.body),
        ):
            problems += check_templates(value, f"action {name!r}, {field_name}")
    if config.profile and config.profile.action not in config.actions:
        problems.append(f"profile.action: unknown action {config.profile.action!r}")
    seen_intents: dict[str, str] = {}
    for name, flow in config.flows.items():
        for intent in flow.intents:
            if intent in seen_intents:
                problems.append(
                    f"flow {name!r}, intents: {intent!r} already starts flow "
                    f"{seen_intents[intent]!r}"
                )
            seen_intents[intent] = name
        for slot_name, slot in flow.slots.items():
            where = f"flow {name!r}, slots.{slot_name}"
            if not (slot.entity or slot.extract or slot.from_text or slot.choices):
                problems.append(f"{where}: give entity, extract, choices or from_text")
            problems += check_templates(slot.ask, f"{where}.ask")
            for key in ("suggest", "prefill", "when"):
                expr = getattr(slot, key)
                if expr is not None:
                    problems += check_expression(expr, f"{where}.{key}")
        try:
            compile_flow(name, flow, config)
        except ConfigurationError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigurationError(f"{source}: invalid flows:\n  " + "\n  ".join(problems))
    return config


def _without_default(value: Any, default: str, where: str) -> list[str]:
    """The paths of per-language texts that lack the ``default`` language."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            at = f"{where}.{key}" if where else str(key)
            if key in TEXT_FIELDS and isinstance(item, dict):
                if default not in {messages.normalise(str(code)) for code in item}:
                    found.append(at)
            else:
                found += _without_default(item, default, at)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _without_default(item, default, f"{where}[{index}]")
    return found
