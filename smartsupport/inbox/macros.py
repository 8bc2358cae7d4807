"""Macros: an admin's recipe of steps an agent runs on a conversation in one go.

    name: refund-order                 # a shortcut, unique in the workspace
    title: Refund the order
    role: supervisor                   # the lowest role that may run it (default agent)
    action: {name: refund_order}       # a business action of flows.yaml (optional);
                                       # ``slots`` add values its templates read (slots.reason)
    reply: "Hi {customer_name}, order {order_id} is refunded: {action.amount} {action.currency}."
    tags: [refund]
    status: resolved                   # keep (default), resolved, or bot (hand back)

A macro generalises a canned response (canned.py): its reply takes the same placeholders,
plus ``{action.FIELD}``, a field of the business action's result. Running one (macro_runs.py)
does the business action first, because it is the step that can fail; only when it succeeded
does the customer read the reply, then the tags and the status follow. Everything here is
pure: validating a definition and planning a run for a conversation read nothing and write
nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smartsupport.domain import Conversation, Customer, Message
from smartsupport.errors import InvalidInput
from smartsupport.inbox import canned, tags
from smartsupport.staff.models import Role

ACTION_FIELD = re.compile(r"\{action\.([A-Za-z_][A-Za-z0-9_]{0,63})\}")
STATUSES = ("keep", "resolved", "bot")


class ActionStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="An action of flows.yaml.")
    slots: dict[str, str] = Field(
        default_factory=dict,
        max_length=10,
        description="Values the action's templates read as slots.NAME (e.g. a reason).",
    )


class MacroSpec(BaseModel):
    """A macro's definition as admins write it (the admin API's body)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=40, description="A shortcut: lowercase letters, digits, - _.")
    title: str = Field(max_length=120)
    role: Role = "agent"
    action: ActionStep | None = None
    reply: str = Field(default="", max_length=canned.MAX_BODY)
    tags: list[str] = Field(default_factory=list, max_length=tags.MAX_TAGS)
    status: Literal["keep", "resolved", "bot"] = "keep"

    @field_validator("name")
    @classmethod
    def _shortcut(cls, name: str) -> str:
        name = name.strip().lower()
        if not canned.SHORTCUT.match(name):
            raise ValueError("a name is 1-40 lowercase letters, digits, '-' or '_'")
        return name

    @field_validator("title", "reply")
    @classmethod
    def _strip(cls, text: str) -> str:
        return text.strip()


def validate(data: dict[str, Any], actions: set[str]) -> MacroSpec:
    """The definition checked step by step; ``actions``: the workspace's action names.
    InvalidInput names the first problem."""
    try:
        spec = MacroSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "macro"
        raise InvalidInput(f"{where}: {first['msg']}", code="invalid_macro") from None
    if not spec.title:
        raise InvalidInput(f"a title is 1-{canned.MAX_TITLE} characters", code="invalid_macro")
    if spec.action is None and not spec.reply and not spec.tags and spec.status == "keep":
        raise InvalidInput("a macro needs at least one step", code="empty_macro")
    if spec.action is not None and spec.action.name not in actions:
        known = ", ".join(sorted(actions)) or "none: the workspace has no flows.yaml actions"
        raise InvalidInput(
            f"unknown action {spec.action.name!r}; known: {known}", code="unknown_action"
        )
    if ACTION_FIELD.search(spec.reply) and spec.action is None:
        raise InvalidInput("{action.FIELD} needs an action step", code="unknown_placeholder")
    unknown = sorted({p for p in canned.PLACEHOLDER.findall(spec.reply) if p not in canned.KNOWN})
    if unknown:
        raise InvalidInput(
            f"unknown placeholder(s) {', '.join(unknown)}; use {', '.join(canned.KNOWN)} "
            "or {action.FIELD}",
            code="unknown_placeholder",
        )
    spec.tags = tags.checked(spec.tags)
    return spec


@dataclass(slots=True)
class Plan:
    """What running a macro on one conversation will do, for the confirmation and the run."""

    order_id: str | None
    email: str | None
    action: str | None
    reply: str  # the canned placeholders filled; {action.FIELD} filled after the action
    missing: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    status: str = "keep"

    def steps(self, title: str) -> list[str]:
        """The confirmation's lines, in the order they run."""
        lines = []
        if self.action:
            target = f" for order {self.order_id}" if self.order_id else ""
            lines.append(f"Call the business action {self.action}{target}")
        if self.reply:
            lines.append(f"Reply to the customer: {self.reply}")
        if self.tags:
            lines.append(f"Tag the conversation: {', '.join(self.tags)}")
        if self.status == "resolved":
            lines.append("Resolve the conversation")
        elif self.status == "bot":
            lines.append("Hand the conversation back to the assistant")
        return lines or [title]


def plan(
    spec: MacroSpec,
    *,
    conversation: Conversation,
    customer: Customer | None,
    messages: list[Message],
    agent_name: str,
    workspace_name: str,
) -> Plan:
    expanded = canned.expand(
        spec.reply,
        conversation=conversation,
        customer=customer,
        messages=messages,
        agent_name=agent_name,
        workspace_name=workspace_name,
    )
    contact = conversation.metadata.get("contact")
    email = (customer.email if customer else None) or (
        contact.get("email") if isinstance(contact, dict) else None
    )
    return Plan(
        order_id=canned.order_id(conversation, messages),
        email=email,
        action=spec.action.name if spec.action else None,
        reply=expanded.text,
        missing=expanded.missing,
        tags=list(spec.tags),
        status=spec.status,
    )


def with_result(reply: str, data: dict[str, Any]) -> tuple[str, list[str]]:
    """The reply with ``{action.FIELD}`` filled from the action's result, and the fields
    the result lacked (then the reply must not be sent: it would say something false)."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        value = data.get(match.group(1))
        if value is None or value == "" or isinstance(value, dict | list):
            missing.append(f"action.{match.group(1)}")
            return match.group(0)
        return str(value)

    return ACTION_FIELD.sub(fill, reply), missing
