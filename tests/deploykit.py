"""Shared by the deployment tests (test_deploy.py, test_image.py): where the artifacts are,
how GitHub and Compose read YAML, the vendored JSON schemas, and the Dockerfile as data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from smartsupport.cli import build_parser
from smartsupport.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "tests" / "data" / "schemas"
CHART = ROOT / "deploy" / "helm" / "smartsupport"
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
NGINX_TEMPLATE = ROOT / "deploy" / "compose" / "nginx" / "default.conf.template"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
TERRAFORM = ROOT / "deploy" / "terraform"
# The chart's kubeVersion floor and the newest schema kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.25.0", "1.37.0"]
REQUIRED = {
    "secret": {
        "databaseUrl": "postgresql://smartsupport:pw@postgres:5432/smartsupport",
        "redisUrl": "redis://redis:6379/0",
        "secretKey": "0123456789abcdef" * 4,
        "eventsUrl": "amqp://smartsupport:pw@rabbitmq:5672/",
    }
}


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans, as GitHub reads workflows: ``on:`` is a key, not True."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for first in "tTfF":
    Yaml12Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), first
    )


def schema_errors(document: Any, schema_file: str) -> list[str]:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(schema).iter_errors(document)
    ]


def cli_commands() -> set[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return set(sub.choices)  # type: ignore[arg-type]


SETTING_NAMES = {f"SMARTSUPPORT_{name.upper()}" for name in Settings.model_fields}


def compose() -> dict[str, Any]:
    return yaml.load(COMPOSE.read_text(), Loader=Yaml12Loader)


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) in order; continuation lines joined, comments dropped."""
    lines = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]  # fmt: skip
    joined = re.sub(r"\\\n", "", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, rest = line.strip().partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def dockerfile_exec(instruction: str) -> list[str]:
    (value,) = [rest for name, rest in final_stage() if name == instruction]
    if instruction == "HEALTHCHECK":
        value = value.split(" CMD ", 1)[1]
    return list(json.loads(value))


def dockerfile_uid() -> int:
    (user,) = [rest for name, rest in final_stage() if name == "USER"]
    return int(user.split(":")[0])


def dockerfile_port() -> int:
    (port,) = [rest for name, rest in final_stage() if name == "EXPOSE"]
    return int(port)
