"""The schema of ``flows.yaml``: backends, actions, an optional profile look-up and flows.

    backends:                       # the business's systems
      shop:
        base_url: ${SHOP_URL:-builtin://demo-shop}    # ${ENV} and ${ENV:-default} expand
        auth: {type: bearer, token_env: SHOP_TOKEN}   # secrets come from the environment only
        timeout: 3
        retries: 2
    actions:                        # one HTTP call each
      get_order:
        backend: shop
        method: GET
        path: /orders/{{ slots.order_id }}
        params: {customer_id: "{{ customer.id }}"}
        map: {id: id, status: status, carrier: shipping.carrier}
        outcomes: {404: not_found}
    profile: {action: get_customer}  # who an identified customer is (used by every flow)
    flows:
      track_order:
        intents: [order_status]
        slots: {order_id: {entity: order_id, ask: "What is your order number?"}}
        steps:
          - call: get_order
            as: order
          - say: "Order {{ order.id }} is {{ order.status }}."

``loading.load_flows`` validates all of it and cross-checks names (actions, backends, slots, hooks,
expressions); every error names the file, the flow and the field.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smartsupport.dialogue import templates
from smartsupport.errors import ConfigurationError

NORMALIZERS = ("strip", "upper", "lower", "title", "collapse_spaces", "no_spaces")
STEP_KINDS = ("say", "call", "if", "confirm", "collect", "reask", "set", "hook", "handoff", "end")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthSpec(_Strict):
    """How to authenticate to a backend. Only the *names* of environment variables appear in
    the configuration, so a flows file can be shared and committed without secrets."""

    type: Literal["bearer", "header", "basic"]
    token_env: str | None = None  # bearer / header
    header: str = "X-Api-Key"  # header
    username_env: str | None = None  # basic
    password_env: str | None = None  # basic
    required: bool = True  # False: call without auth when the variable is unset (demo)

    @field_validator("token_env", "username_env", "password_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name


class BackendSpec(_Strict):
    base_url: str
    auth: AuthSpec | None = None
    timeout: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)
    # Seconds before the first retry, doubled per attempt (jittered; at most 5, see actions).
    backoff: float = Field(default=0.2, ge=0, le=30)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


class ActionSpec(_Strict):
    backend: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str
    params: dict[str, Any] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    # result name -> dotted path into the JSON response ("shipping.carrier", "items")
    map: dict[str, str] = Field(default_factory=dict)
    # result fields that must be present in a successful response (else it is garbage)
    require: list[str] = Field(default_factory=list)
    # HTTP status -> outcome name the flow can branch on; 2xx is "ok", the rest "error"
    outcomes: dict[int, str] = Field(default_factory=dict)
    # retry a non-idempotent call after a timeout? Only if the API de-duplicates it.
    idempotent: bool | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("path must start with '/' (it is appended to the backend's base_url)")
        return path


class SlotSpec(_Strict):
    ask: str
    entity: str | None = None  # NLU entity type that fills it
    extract: str | None = None  # a regular expression tried on the text (group 1 or match)
    from_text: bool = False  # the whole answer fills it (addresses, reasons)
    pattern: str | None = None  # the normalised value must fully match
    choices: list[str] | None = None
    min_length: int = 1
    max_length: int = 500
    normalize: list[Literal[NORMALIZERS]] = Field(default_factory=lambda: ["strip"])  # type: ignore[valid-type]
    rewrite: tuple[str, str] | None = None  # (regex, replacement), e.g. ORD10234 -> ORD-10234
    invalid: str | None = None  # what to say when an answer does not validate
    quick_replies: list[str] = Field(default_factory=list)
    suggest: str | None = None  # expression giving more quick replies (e.g. recent orders)
    prefill: str | None = None  # expression: a value known without asking (profile data)
    when: str | None = None  # expression: ask only when true
    lazy: bool = False  # asked by a ``collect`` step, not before the steps run
    retries: int | None = Field(default=None, ge=1, le=10)

    @field_validator("extract", "pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class FlowSpec(_Strict):
    description: str = ""
    intents: list[str] = Field(default_factory=list)
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    slots: dict[str, SlotSpec] = Field(default_factory=dict)
    steps: list[dict[Any, Any]] = Field(min_length=1)
    retries: int = Field(default=3, ge=1, le=10)  # failed answers to one question, then stuck
    error_message: str = (
        "Sorry, I can't reach our order system right now, so I can't finish this for you."
    )
    handoff_on_error: bool = True  # after an action fails: hand over to a person
    handoff_when_stuck: bool = True  # after ``retries`` failed answers: hand over
    stuck_message: str = "I'm not getting this right, sorry."
    cancel_message: str = "OK, I've stopped there. Is there anything else I can help with?"
    deny_message: str = "OK, I've left everything as it was. Anything else?"
    resume_message: str = "Now, back to where we were:"


class ProfileSpec(_Strict):
    action: str  # called with {{ user_id }}; its mapped result becomes ``customer``


class FlowsConfig(_Strict):
    backends: dict[str, BackendSpec] = Field(default_factory=dict)
    actions: dict[str, ActionSpec] = Field(default_factory=dict)
    flows: dict[str, FlowSpec] = Field(default_factory=dict)
    profile: ProfileSpec | None = None
    cancel_phrases: list[str] = Field(
        default_factory=lambda: [
            "never mind",
            "nevermind",
            "forget it",
            "cancel",
            "cancel that",
            "stop",
            "quit",
            "exit",
            "no thanks",
            "nothing",
            "leave it",
            "abort",
            "don't bother",
        ]
    )
    max_digressions: int = Field(default=3, ge=0)


# -- steps -------------------------------------------------------------------------------


class SayStep(_Strict):
    say: str
    quick_replies: list[str] = Field(default_factory=list)


class CallStep(_Strict):
    call: str
    as_: str | None = Field(default=None, alias="as")
    on: dict[str, list[dict[Any, Any]]] = Field(default_factory=dict)


class IfStep(_Strict):
    if_: str = Field(alias="if")
    then: list[dict[Any, Any]] = Field(min_length=1)
    else_: list[dict[Any, Any]] = Field(default_factory=list, alias="else")


class ConfirmStep(_Strict):
    confirm: str
    quick_replies: list[str] = Field(default_factory=lambda: ["Yes", "No"])
    on_deny: list[dict[Any, Any]] = Field(default_factory=list)


class CollectStep(_Strict):
    collect: str


class ReaskStep(_Strict):
    reask: str
    say: str | None = None


class SetStep(_Strict):
    set: dict[str, str]


class HookStep(_Strict):
    hook: str  # "package.module:function"
    as_: str | None = Field(default=None, alias="as")


class HandoffStep(_Strict):
    handoff: str  # the reason, for the agent's queue
    say: str | None = None


class EndStep(_Strict):
    end: Literal["completed", "cancelled", "failed"] = "completed"
    say: str | None = None
    quick_replies: list[str] = Field(default_factory=list)


STEP_MODELS: dict[str, type[_Strict]] = {
    "say": SayStep,
    "call": CallStep,
    "if": IfStep,
    "confirm": ConfirmStep,
    "collect": CollectStep,
    "reask": ReaskStep,
    "set": SetStep,
    "hook": HookStep,
    "handoff": HandoffStep,
    "end": EndStep,
}


def parse_step(raw: Any, where: str) -> _Strict:
    """One step mapping -> its model. The kind is the one key among STEP_KINDS it has."""
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: a step must be a mapping, got {type(raw).__name__}")
    # YAML 1.1 reads a bare ``on:`` key as the boolean True.
    raw = {("on" if k is True else k): v for k, v in raw.items()}
    # ``say`` is also an option of reask, handoff and end, so it is the kind only alone.
    kinds = [k for k in STEP_KINDS if k in raw and k != "say"] or [k for k in ("say",) if k in raw]
    if len(kinds) != 1:
        found = ", ".join(kinds) or "none"
        raise ConfigurationError(
            f"{where}: a step needs exactly one of {', '.join(STEP_KINDS)} (found {found})"
        )
    try:
        return STEP_MODELS[kinds[0]].model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(f"{where}: {_errors(exc)}") from exc


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
    )


def _check_templates(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        try:
            templates.check_template(value)
        except templates.TemplateError as exc:
            return [f"{where}: {exc}"]
    elif isinstance(value, dict):
        return [p for k, v in value.items() for p in _check_templates(v, f"{where}.{k}")]
    elif isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _check_templates(v, f"{where}[{i}]")]
    return []


def _check_expression(expr: str, where: str) -> list[str]:
    try:
        templates.check(expr)
    except templates.TemplateError as exc:
        return [f"{where}: {exc}"]
    return []


check_templates = _check_templates
check_expression = _check_expression
