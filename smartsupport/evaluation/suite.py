"""A resolution suite as data: YAML files of customer conversations and what a correct
outcome contains. One file holds the conversations of one language:

    language: fr                      # the default of every conversation in the file
    conversations:
      - id: fr-retour-delai           # unique in the suite
        category: resolvable          # resolvable | unanswerable | must_escalate
        turns:                        # what the customer types, in order; later turns
          - "bonjour, j'ai combien de temps pour renvoyer des chaussures ?"   # answer the bot
        expect:
          facts: [["30"]]             # every group must appear in the final replies; a
                                      # group's alternatives are the forms a reply may use
          article: returns            # a knowledge answer cites it (a file stem; a list: any)
          wrong: ["60 jours"]         # stated anywhere: the conversation is confidently wrong

``load_suite(path)`` reads one file or every ``*.yaml`` of a folder (sorted) and refuses a
suite with a problem (unknown field, duplicate id, a resolvable conversation without facts,
an unknown language) with the file and the conversation named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smartsupport.errors import ConfigurationError
from smartsupport.yaml_text import load_yaml

# The product brief's languages (issue 11): a conversation in another language is refused.
Language = Literal["en", "es", "fr", "de", "it", "pt", "zh", "ja", "ar"]
Category = Literal["resolvable", "unanswerable", "must_escalate"]
LANGUAGES: tuple[str, ...] = get_args(Language)
CATEGORIES: tuple[str, ...] = get_args(Category)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _texts(value: Any) -> Any:
    # YAML reads a bare yes / no as a boolean and 42 as a number: they are still words.
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if isinstance(value, int | float) else value


class Expect(_Strict):
    facts: list[list[str]] = Field(default_factory=list)
    article: list[str] = Field(default_factory=list)
    wrong: list[str] = Field(default_factory=list)

    @field_validator("facts", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        # A group may be written as one string: ["30"] instead of [["30"]].
        if isinstance(value, list):
            return [[_texts(v) for v in g] if isinstance(g, list) else [_texts(g)] for g in value]
        return value

    @field_validator("article", "wrong", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return [_texts(v) for v in value] if isinstance(value, list) else value


class Case(_Strict):
    """One conversation of the suite."""

    id: str = Field(min_length=1, max_length=120)
    language: Language
    category: Category
    turns: list[str] = Field(min_length=1)
    expect: Expect = Field(default_factory=Expect)
    workspace: str = "demo"
    note: str = ""  # why the conversation is there, for the reader
    source: str = ""  # the file it came from

    @field_validator("turns", mode="before")
    @classmethod
    def _turn_texts(cls, value: Any) -> Any:
        return [_texts(v) for v in value] if isinstance(value, list) else value

    @field_validator("turns")
    @classmethod
    def _no_empty_turn(cls, value: list[str]) -> list[str]:
        if any(not t.strip() for t in value):
            raise ValueError("a customer turn is empty")
        return value


class _File(_Strict):
    language: str | None = None
    conversations: list[dict[str, Any]] = Field(min_length=1)


def load_suite(path: Path) -> list[Case]:
    """Every conversation of one YAML file, or of every ``*.yaml`` / ``*.yml`` of a folder."""
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    else:
        files = [path]
    if not files:
        raise ConfigurationError(f"{path}: no conversation files (*.yaml) found")
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for file in files:
        for case in _load_file(file):
            if case.id in seen:
                raise ConfigurationError(
                    f"{file}: conversation id {case.id!r} is also used in {seen[case.id]}"
                )
            seen[case.id] = str(file)
            cases.append(case)
    return cases


def _load_file(file: Path) -> list[Case]:
    try:
        data = load_yaml(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{file}: cannot read the conversations: {exc}") from exc
    try:
        parsed = _File.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigurationError(f"{file}: {_problems(exc)}") from exc
    cases = []
    for number, raw in enumerate(parsed.conversations, 1):
        values = {"language": parsed.language, **raw, "source": str(file)}
        try:
            case = Case.model_validate(values)
        except ValidationError as exc:
            name = raw.get("id") or f"conversation {number}"
            raise ConfigurationError(f"{file}: {name}: {_problems(exc)}") from exc
        if case.category == "resolvable" and not case.expect.facts:
            raise ConfigurationError(
                f"{file}: {case.id}: a resolvable conversation names the facts a correct "
                "answer contains (expect.facts)"
            )
        if any(not group or not all(a.strip() for a in group) for group in case.expect.facts):
            raise ConfigurationError(f"{file}: {case.id}: an empty fact or fact group")
        cases.append(case)
    return cases


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
    )
