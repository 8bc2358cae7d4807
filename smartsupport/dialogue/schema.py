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

Every text the customer reads (``ask``, ``invalid``, ``say``, ``confirm``, the flow's
messages) is a template in the workspace's default language, or a mapping language ->
template; quick replies likewise are a list, or a mapping language -> list:

    ask:
      en: "What's your order number?"
      es: "¿Cuál es su número de pedido?"

The engine answers in the customer's language, else the default language (docs/languages.md);
``{{ language }}`` is the language of the text being rendered and ``{{ facts.NAME }}`` the
workspace's ``facts``. A flow message left out (``error_message``, ...) is the product's own
text in the customer's language (the message catalog, ``messages.py``).

``loading.load_flows`` validates all of it and cross-checks names (actions, backends, slots, hooks,
expressions); every error names the file, the flow and the field.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from smartsupport import messages
from smartsupport.dialogue import scheduling, templates
from smartsupport.errors import ConfigurationError

# A text the customer reads: one template (the workspace's default language) or a mapping
# language -> template; quick replies: one list, or a mapping language -> list.
Text = str | dict[str, str]
Buttons = list[str] | dict[str, list[str]]
NORMALIZERS = ("strip", "upper", "lower", "title", "collapse_spaces", "no_spaces")
STEP_KINDS = (
    "say", "call", "if", "confirm", "collect", "reask", "set", "hook", "handoff", "end",
    "schedule_message", "cancel_message",
)  # fmt: skip


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
    ask: Text
    entity: str | None = None  # NLU entity type that fills it
    extract: str | None = None  # a regular expression tried on the text (group 1 or match)
    from_text: bool = False  # the whole answer fills it (addresses, reasons)
    pattern: str | None = None  # the normalised value must fully match
    choices: list[str] | None = None
    min_length: int = 1
    max_length: int = 500
    normalize: list[Literal[NORMALIZERS]] = Field(default_factory=lambda: ["strip"])  # type: ignore[valid-type]
    rewrite: tuple[str, str] | None = None  # (regex, replacement), e.g. ORD10234 -> ORD-10234
    invalid: Text | None = None  # what to say when an answer does not validate
    # Written as a list or a mapping language -> list; once loaded ``quick_replies`` is the
    # default language's list and ``quick_replies_by_language`` the mapping (when written).
    quick_replies: list[str] = Field(default_factory=list)
    quick_replies_by_language: dict[str, list[str]] = Field(default_factory=dict)
    suggest: str | None = None  # expression giving more quick replies (e.g. recent orders)
    prefill: str | None = None  # expression: a value known without asking (profile data)
    when: str | None = None  # expression: ask only when true
    lazy: bool = False  # asked by a ``collect`` step, not before the steps run
    retries: int | None = Field(default=None, ge=1, le=10)

    @field_validator("ask", "invalid")
    @classmethod
    def _languages(cls, value: Any) -> Any:
        return _language_codes(value)

    @model_validator(mode="before")
    @classmethod
    def _buttons_per_language(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and isinstance(data.get("quick_replies"), dict):
            data = dict(data)
            found = _language_codes(data["quick_replies"])
            default = messages.normalise((info.context or {}).get("default_language")) or "en"
            data["quick_replies_by_language"] = found
            data["quick_replies"] = found.get(default) or next(iter(found.values()))
        return data

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
    # A question about what the flow does ("how long do I have to return something?") is
    # answered from the articles, with an offer to start the flow ("answer"). A flow that
    # looks something up ("do you have the jacket in L?", "has my refund gone through?") is
    # asked as a question by nature: it starts on questions too ("start").
    on_question: Literal["answer", "start"] = "answer"
    slots: dict[str, SlotSpec] = Field(default_factory=dict)
    steps: list[dict[Any, Any]] = Field(min_length=1)
    retries: int = Field(default=3, ge=1, le=10)  # failed answers to one question, then stuck
    handoff_on_error: bool = True  # after an action fails: hand over to a person
    handoff_when_stuck: bool = True  # after ``retries`` failed answers: hand over
    # Left out: the message catalog's text (the key in the comment) in the customer's language.
    error_message: Text | None = None  # flow.error
    stuck_message: Text | None = None  # flow.stuck
    cancel_message: Text | None = None  # flow.cancelled
    deny_message: Text | None = None  # flow.denied
    resume_message: Text | None = None  # flow.resume

    @field_validator(
        "error_message", "stuck_message", "cancel_message", "deny_message", "resume_message"
    )
    @classmethod
    def _languages(cls, value: Any) -> Any:
        return _language_codes(value)


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


class _Texts(_Strict):
    """A step whose ``say``/``confirm``/``quick_replies`` may be written per language."""

    @field_validator("*")
    @classmethod
    def _languages(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in ("say", "confirm", "quick_replies"):
            return _language_codes(value)
        return value


class CardButtonSpec(_Strict):
    """A card's button: a link (``url``) or a postback (``payload``, default the title)."""

    title: Text
    url: str | None = None
    payload: Text | None = None


class CardSpec(_Strict):
    """A card shown with a step's text (rich.py): every string may hold ``{{ }}`` holes,
    ``title``, ``subtitle`` and the buttons' titles may be written per language."""

    title: Text
    subtitle: Text | None = None
    image_url: str | None = None
    url: str | None = None
    buttons: list[CardButtonSpec] = Field(default_factory=list, max_length=3)


class SayStep(_Texts):
    say: Text
    quick_replies: Buttons = Field(default_factory=list)
    card: CardSpec | None = None


class CallStep(_Strict):
    call: str
    as_: str | None = Field(default=None, alias="as")
    on: dict[str, list[dict[Any, Any]]] = Field(default_factory=dict)


class IfStep(_Strict):
    if_: str = Field(alias="if")
    then: list[dict[Any, Any]] = Field(min_length=1)
    else_: list[dict[Any, Any]] = Field(default_factory=list, alias="else")


class ConfirmStep(_Texts):
    confirm: Text
    # [yes, no]: pressing the first confirms, the second declines, in any language. Left
    # out: the catalog's flow.yes and flow.no.
    quick_replies: Buttons | None = None
    on_deny: list[dict[Any, Any]] = Field(default_factory=list)


class CollectStep(_Strict):
    collect: str


class ReaskStep(_Texts):
    reask: str
    say: Text | None = None


class SetStep(_Strict):
    set: dict[str, str]


class HookStep(_Strict):
    hook: str  # "package.module:function"
    as_: str | None = Field(default=None, alias="as")


class HandoffStep(_Texts):
    handoff: str  # the reason, for the agent's queue
    say: Text | None = None


class EndStep(_Texts):
    end: Literal["completed", "cancelled", "failed"] = "completed"
    say: Text | None = None
    quick_replies: Buttons = Field(default_factory=list)
    card: CardSpec | None = None


class WhatsAppTemplateSpec(_Strict):
    """An approved WhatsApp template for a scheduled message outside the 24-hour window;
    each parameter is a template."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field(default="en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    parameters: list[str] = Field(default_factory=list, max_length=10)


class ScheduleStep(_Texts):
    """A proactive message for later, on the conversation's channel (dialogue/scheduling.py):
    ``after`` a delay, or ``at`` a time from the flow's data moved by ``offset``."""

    schedule_message: str  # its name: events, the stored message's meta, the default key
    say: Text
    after: str | None = None
    at: str | None = None  # an expression
    offset: str | None = None
    key: str | None = None  # a template
    require_opt_in: bool = False
    unless_handed_over: bool = False  # skipped if a person holds the conversation when due
    template: WhatsAppTemplateSpec | None = None

    @field_validator("schedule_message")
    @classmethod
    def _name(cls, name: str) -> str:
        return _message_name(name)

    @field_validator("after", "offset")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            scheduling.parse_duration(value)
        return value

    @model_validator(mode="after")
    def _when(self) -> ScheduleStep:
        if (self.after is None) == (self.at is None):
            raise ValueError(
                "give `after` (a delay from now, e.g. 13d) or `at` (an expression giving a "
                "time from the flow's data, e.g. created.label_expires_at), exactly one"
            )
        if self.offset is not None and self.at is None:
            raise ValueError("`offset` moves `at`; with `after`, put the whole delay in it")
        if self.after is not None and scheduling.parse_duration(self.after).total_seconds() < 0:
            raise ValueError(
                "`after` is a delay from now: before a time is `at` with a negative `offset`"
            )
        return self


class CancelStep(_Strict):
    """Call back a message a ``schedule_message`` step of this workspace's flows scheduled
    in this conversation (the parcel arrived: no label reminder), with the turn
    (dialogue/scheduling.py). ``key``: that step's key, rendered with this flow's data;
    left out, every message of that name the conversation still has pending."""

    cancel_message: str  # the schedule_message step's name
    key: str | None = None  # a template

    @field_validator("cancel_message")
    @classmethod
    def _name(cls, name: str) -> str:
        return _message_name(name)


def _message_name(name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
        raise ValueError(f"{name!r}: name the message in lower case, e.g. label_reminder")
    return name


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
    "schedule_message": ScheduleStep,
    "cancel_message": CancelStep,
}


def _language_codes(value: Any) -> Any:
    """A per-language mapping's keys are language codes, normalised (``pt-BR`` -> ``pt``)."""
    if not isinstance(value, dict):
        return value
    if not value:
        raise ValueError("give a text, or a mapping of language codes to texts")
    for code in value:
        if not messages.is_language_code(str(code)):
            raise ValueError(f"{code!r} is not a language code (en, es, pt-BR, ...)")
    return {messages.normalise(str(code)): v for code, v in value.items()}


def languages_of(value: Any) -> set[str]:
    """The languages a text or quick-reply list is written in (``""``: the default's)."""
    return set(value) if isinstance(value, dict) else {""}


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
