"""Loading a workspace's flows: validate ``flows.yaml`` against the schema, cross-check its
names (actions, backends, slots, intents, templates) and compile every flow to its program, so
a mistake stops start-up with the file, flow and field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from smartsupport.dialogue.program import compile_flow
from smartsupport.dialogue.schema import FlowsConfig, check_expression, check_templates
from smartsupport.errors import ConfigurationError


def load_flows(section: dict[str, Any], source: Path | str = "flows.yaml") -> FlowsConfig:
    """Validate a workspace's ``flows`` section; ConfigurationError names file/flow/field."""
    # Top-level keys starting with "x-" hold YAML anchors (shared slots), not configuration.
    section = {k: v for k, v in section.items() if not str(k).startswith("x-")}
    try:
        config = FlowsConfig.model_validate(section)
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
