"""A flow's steps compiled to a flat program of instructions with jump targets.

Nested steps (``if``/``then``/``else``, ``call`` with ``on`` outcome branches, ``confirm``
with ``on_deny``) become a list, so the whole position of a paused flow is one integer
(``pc``): the dialogue state stays small, JSON-serialisable and easy to resume after any
number of turns. Compiling happens when the flows load, so a wrong step stops start-up.

    call get_order -> order          0  call
      on not_found: reask order_id   1  outcome_is not_found else -> 4
                                     2  reask order_id
                                     3  jump -> 4
    if order.status == 'shipped'     4  jump_unless ... -> 6
      say Shipped.                   5  say
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartsupport.dialogue import hooks
from smartsupport.dialogue.schema import (
    Buttons,
    CallStep,
    CancelStep,
    CardSpec,
    CollectStep,
    ConfirmStep,
    EndStep,
    FlowsConfig,
    FlowSpec,
    HandoffStep,
    HookStep,
    IfStep,
    ReaskStep,
    SayStep,
    ScheduleStep,
    SetStep,
    Text,
    check_expression,
    check_templates,
    parse_step,
)
from smartsupport.errors import ConfigurationError

RESERVED = {
    "slots", "prefilled", "vars", "customer", "segment", "flow", "identified", "language", "facts",
    "remembered",
}  # fmt: skip
CANCELLED = "cancelled"


@dataclass
class Instr:
    # say call outcome_is jump_unless jump confirm collect reask set hook handoff end schedule
    # cancel
    op: str
    text: Text | None = None  # a template, or one per language
    key: str | None = None  # the message catalog's text when ``text`` is None
    quick_replies: Buttons | None = field(default_factory=list)  # None: [yes, no]
    cond: str | None = None
    target: int = -1
    name: str | None = None  # action, slot, result name or hook reference
    result: str | None = None
    handled: tuple[str, ...] = ()
    values: dict[str, str] = field(default_factory=dict)
    status: str | None = None
    card: CardSpec | None = None  # shown with the text (say, end)
    schedule: ScheduleStep | None = None  # a proactive message for later (schedule)
    cancel: CancelStep | None = None  # a scheduled message called back (cancel)


def compile_flow(name: str, flow: FlowSpec, config: FlowsConfig) -> list[Instr]:
    """The flow's program; ConfigurationError names the flow and the step that is wrong."""
    program: list[Instr] = []
    scheduled = _scheduled(config)

    def emit(steps: list[dict[str, Any]], where: str) -> None:
        for i, raw in enumerate(steps):
            at = f"{where}[{i}]"
            step = parse_step(raw, f"flow {name!r}, {at}")
            problems = check_templates(raw, f"flow {name!r}, {at}")
            if isinstance(step, IfStep):
                problems += check_expression(step.if_, f"flow {name!r}, {at}.if")
            if problems:
                raise ConfigurationError("; ".join(problems))
            emit_one(step, at)

    def emit_one(step: Any, at: str) -> None:
        if isinstance(step, SayStep):
            program.append(
                Instr("say", text=step.say, quick_replies=step.quick_replies, card=step.card)
            )
        elif isinstance(step, CallStep):
            if step.call not in config.actions:
                raise ConfigurationError(f"flow {name!r}, {at}.call: unknown action {step.call!r}")
            result = step.as_ or step.call
            if result in RESERVED:
                raise ConfigurationError(f"flow {name!r}, {at}.as: {result!r} is a reserved name")
            program.append(Instr("call", name=step.call, result=result, handled=tuple(step.on)))
            ends = []
            for outcome, branch in step.on.items():
                check = Instr("outcome_is", result=result, name=outcome)
                program.append(check)
                emit(branch, f"{at}.on.{outcome}")
                ends.append(Instr("jump"))
                program.append(ends[-1])
                check.target = len(program)
            for jump in ends:
                jump.target = len(program)
        elif isinstance(step, IfStep):
            test = Instr("jump_unless", cond=step.if_)
            program.append(test)
            emit(step.then, f"{at}.then")
            if step.else_:
                skip = Instr("jump")
                program.append(skip)
                test.target = len(program)
                emit(step.else_, f"{at}.else")
                skip.target = len(program)
            else:
                test.target = len(program)
        elif isinstance(step, ConfirmStep):
            # No quick replies given: the catalog's yes and no (the engine's ``buttons``).
            confirm = Instr("confirm", text=step.confirm, quick_replies=step.quick_replies)
            program.append(confirm)
            skip = Instr("jump")
            program.append(skip)
            confirm.target = len(program)  # where "no" goes
            if step.on_deny:
                emit(step.on_deny, f"{at}.on_deny")
            program.append(
                Instr(
                    "end",
                    status=CANCELLED,
                    text=None if step.on_deny else flow.deny_message,
                    key=None if step.on_deny or flow.deny_message else "flow.denied",
                )
            )
            skip.target = len(program)
        elif isinstance(step, CollectStep | ReaskStep):
            slot = step.collect if isinstance(step, CollectStep) else step.reask
            if slot not in flow.slots:
                raise ConfigurationError(f"flow {name!r}, {at}: unknown slot {slot!r}")
            text = step.say if isinstance(step, ReaskStep) else None
            program.append(
                Instr("collect" if isinstance(step, CollectStep) else "reask", name=slot, text=text)
            )
        elif isinstance(step, SetStep):
            for key, expr in step.set.items():
                problems = check_expression(expr, f"flow {name!r}, {at}.set.{key}")
                if problems:
                    raise ConfigurationError(problems[0])
            program.append(Instr("set", values=dict(step.set)))
        elif isinstance(step, HookStep):
            try:
                hooks.resolve(step.hook)
            except ConfigurationError as exc:
                raise ConfigurationError(f"flow {name!r}, {at}.hook: {exc}") from exc
            program.append(Instr("hook", name=step.hook, result=step.as_ or "hook"))
        elif isinstance(step, ScheduleStep):
            if step.at is not None:
                problems = check_expression(step.at, f"flow {name!r}, {at}.at")
                if problems:
                    raise ConfigurationError(problems[0])
            program.append(
                Instr("schedule", text=step.say, name=step.schedule_message, schedule=step)
            )
        elif isinstance(step, CancelStep):
            _check_cancel(step, scheduled, f"flow {name!r}, {at}")
            program.append(Instr("cancel", name=step.cancel_message, cancel=step))
        elif isinstance(step, HandoffStep):
            program.append(Instr("handoff", text=step.say, name=step.handoff))
        elif isinstance(step, EndStep):
            program.append(
                Instr(
                    "end",
                    status=step.end,
                    text=step.say,
                    quick_replies=step.quick_replies,
                    card=step.card,
                )
            )

    emit(flow.steps, "steps")
    return program


def _scheduled(config: FlowsConfig) -> dict[str, set[bool]]:
    """Each ``schedule_message`` name of the workspace's flows -> whether its steps have a
    ``key`` (a ``cancel_message`` step must name one of them the same way)."""
    found: dict[str, set[bool]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("schedule_message"), str):
                found.setdefault(value["schedule_message"], set()).add("key" in value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for flow in config.flows.values():
        walk(flow.steps)
    return found


def _check_cancel(step: CancelStep, scheduled: dict[str, set[bool]], where: str) -> None:
    """A ``cancel_message`` step calls back what a ``schedule_message`` step wrote: the same
    name, and a key exactly when that step has one (the message's key is built from it)."""
    name = step.cancel_message
    keyed = scheduled.get(name)
    if keyed is None:
        known = ", ".join(sorted(scheduled)) or "none"
        raise ConfigurationError(
            f"{where}.cancel_message: no schedule_message step is named {name!r} (known: {known})"
        )
    if step.key is None and True in keyed:
        raise ConfigurationError(
            f"{where}: the schedule_message step {name!r} has a key; give the same key here "
            "(rendered with this flow's data) to call back that message"
        )
    if step.key is not None and False in keyed:
        raise ConfigurationError(
            f"{where}.key: the schedule_message step {name!r} has no key; leave it out here "
            f"(every pending {name!r} message of the conversation is called back)"
        )
