"""The workspace ``nlu`` section (the workspace's ``intents.yaml``), validated.

    intents:
      order_status:
        examples: ["where is my order", "¿dónde está mi pedido?", ...]
        responses:                     # one list, or one list per language
          en: ["Let me check order {order_id} for you."]
          es: ["Voy a revisar el pedido {order_id}."]
    rules:                             # regex / keyword intents
      - intent: human_agent
        keywords: ["talk to a human", "agent"]
        regex: ["\\bspeak (to|with) (a|an) (person|human)\\b"]
        mode: override                 # override: wins when it matches (default)
        priority: 10                   # fallback: only when the model is unsure or out of scope
    entities:                          # extra entity patterns, name -> regex
      order_id: "\\bORD-\\d{5}\\b"
    out_of_scope:
      threshold: auto                  # or a number in [0, 1]: minimum calibrated confidence
    mode: standard                     # or accurate: adds an English MiniLM view
                                       # (pip install 'smartsupport[accurate]')

A typo must stop start-up with a message that names the field, so every model forbids extras.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartsupport.errors import ConfigurationError

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntentSpec(_Strict):
    examples: list[str] = Field(default_factory=list)
    # A plain list answers in any language; a mapping picks by the message's language.
    responses: list[str] | dict[str, list[str]] = Field(default_factory=list)

    @field_validator("examples")
    @classmethod
    def _clean_examples(cls, examples: list[str]) -> list[str]:
        cleaned = [e.strip() for e in examples if e and e.strip()]
        if len(cleaned) != len(examples):
            raise ValueError("examples must be non-empty strings")
        return cleaned

    def responses_for(self, language: str, default: str = "en") -> list[str]:
        if isinstance(self.responses, list):
            return self.responses
        return (
            self.responses.get(language)
            or self.responses.get(default)
            or next(iter(self.responses.values()), [])
        )


class RuleSpec(_Strict):
    intent: str = Field(pattern=_NAME)
    keywords: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    mode: Literal["override", "fallback"] = "override"
    priority: int = 0

    @field_validator("regex")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _has_trigger(self) -> RuleSpec:
        if not self.keywords and not self.regex:
            raise ValueError(f"rule for {self.intent!r} needs keywords or regex")
        return self


class OutOfScopeSpec(_Strict):
    # "auto": chosen by cross-validation on the training examples (see oos.py).
    threshold: Literal["auto"] | float = "auto"

    @field_validator("threshold")
    @classmethod
    def _in_range(cls, value: str | float) -> str | float:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError("threshold must be 'auto' or a number between 0 and 1")
        return value


_WORD = re.compile(r"\w")


@lru_cache(maxsize=64)
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


class NluSpec(_Strict):
    intents: dict[str, IntentSpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    entities: dict[str, str] = Field(default_factory=dict)
    out_of_scope: OutOfScopeSpec = Field(default_factory=OutOfScopeSpec)
    mode: Literal["standard", "accurate"] = "standard"

    @field_validator("intents")
    @classmethod
    def _intent_names(cls, intents: dict[str, IntentSpec]) -> dict[str, IntentSpec]:
        for name in intents:
            if not re.match(_NAME, name):
                raise ValueError(f"invalid intent name {name!r}")
        return intents

    @field_validator("entities")
    @classmethod
    def _entity_patterns(cls, entities: dict[str, str]) -> dict[str, str]:
        for name, pattern in entities.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"entity {name!r}: invalid regex {pattern!r}: {exc}") from exc
        return entities

    def training_pairs(self) -> tuple[list[str], list[str]]:
        """The examples as the model reads them (``masked``), with their intents."""
        texts: list[str] = []
        labels: list[str] = []
        for name, intent in self.intents.items():
            read = [m for m in (self.masked(e) for e in intent.examples) if m]
            texts.extend(read)
            labels.extend([name] * len(read))
        return texts, labels

    def masked(self, text: str) -> str:
        """``text`` without the values of the workspace's entities (order numbers, tracking
        numbers), as the intent model reads it: most examples that hold an order number ask
        where an order is, so a model that sees it reads "I want to return the jacket from
        ORD-10238" as order status. The entities are extracted from the full text; a text
        that is nothing but entity values is "" (the rules, not the model, read it)."""
        if not self.entities:
            return text
        pattern = _any_of(tuple(self.entities.values()))
        left = " ".join(pattern.sub(" ", text).split())
        return left if _WORD.search(left) else ""


def parse_nlu_section(data: dict, *, where: str = "intents.yaml") -> NluSpec:
    """Validate a workspace's ``nlu`` section; errors name the file and the field."""
    try:
        return NluSpec.model_validate(data or {})
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigurationError(
            f"{where}: invalid NLU configuration:\n  " + "\n  ".join(lines)
        ) from exc
