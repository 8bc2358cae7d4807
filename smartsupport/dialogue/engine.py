"""The flow engine: the loop that runs a flow's program (``program.py``) for one turn.

It runs until the flow has to wait for the customer (a missing slot, a confirmation) or ends
(completed, cancelled, failed, handed over). Before the first step every required slot is
filled; a corrected slot sends the flow back to the first step, so results that depended on
the old value (the order that was looked up) are fetched again. The frame (the running flow's
JSON state) holds everything between turns; the Engine itself keeps nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartsupport.dialogue import hooks, templates
from smartsupport.dialogue.actions import ActionResult, Backend, call_action
from smartsupport.dialogue.program import Instr, compile_flow
from smartsupport.dialogue.schema import FlowsConfig, FlowSpec
from smartsupport.domain import Reply

MAX_STEPS_PER_TURN = 200  # a loop in a flow must not hang the conversation
WAITING, COMPLETED, CANCELLED, FAILED, HANDOFF = (
    "waiting",
    "completed",
    "cancelled",
    "failed",
    "handoff",
)


@dataclass
class RunResult:
    status: str  # waiting, completed, cancelled, failed, handoff
    replies: list[Reply] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reason: str | None = None  # for a handoff


def new_frame(flow: str) -> dict[str, Any]:
    """The JSON state of one running flow."""
    return {
        "flow": flow,
        "slots": {},
        "prefilled": [],
        "asking": None,
        "confirming": None,
        "confirmed": None,
        "pc": 0,
        "results": {},
        "vars": {},
        "retries": {},
        "digressions": 0,
    }


class Engine:
    """Runs one workspace's flows. Stateless between turns: everything is in the frame."""

    def __init__(
        self, config: FlowsConfig, backends: dict[str, Backend], handoff_message: str
    ) -> None:
        self.config = config
        self.backends = backends
        self.handoff_message = handoff_message
        self.programs = {
            name: compile_flow(name, flow, config) for name, flow in config.flows.items()
        }

    def scope(
        self, frame: dict[str, Any], profile: dict[str, Any] | None, segment: str | None
    ) -> dict[str, Any]:
        return {
            **frame["results"],
            "slots": frame["slots"],
            "prefilled": {name: True for name in frame["prefilled"]},
            "vars": frame["vars"],
            "customer": profile,
            "segment": segment,
            "identified": profile is not None,
            "flow": frame["flow"],
        }

    def ask(
        self,
        frame: dict[str, Any],
        slot_name: str,
        scope: dict[str, Any],
        out: RunResult,
        prefix: str | None = None,
    ) -> None:
        slot = self.config.flows[frame["flow"]].slots[slot_name]
        frame["asking"] = slot_name
        quick = list(slot.quick_replies)
        if slot.suggest:
            suggested = templates.evaluate(slot.suggest, scope)
            if isinstance(suggested, list):
                quick += [str(s) for s in suggested if s and len(str(s)) <= 80]
        text = templates.render(slot.ask, scope)
        out.replies.append(
            Reply(
                f"{prefix} {text}" if prefix else text,
                quick_replies=quick[:6],
                meta={"step": "flow", "flow": frame["flow"], "slot": slot_name},
            )
        )

    def missing_slot(self, frame: dict[str, Any], scope: dict[str, Any]) -> str | None:
        for name, slot in self.config.flows[frame["flow"]].slots.items():
            if slot.lazy or name in frame["slots"]:
                continue
            if slot.when and not templates.evaluate(slot.when, scope):
                continue
            return name
        return None

    def retry(self, frame: dict[str, Any], key: str) -> bool:
        """Count one failed answer to ``key``; True when the flow's patience is used up."""
        flow = self.config.flows[frame["flow"]]
        frame["retries"][key] = frame["retries"].get(key, 0) + 1
        slot = flow.slots.get(key)
        limit = slot.retries if slot is not None and slot.retries else flow.retries
        return bool(frame["retries"][key] >= limit)

    def stuck(self, frame: dict[str, Any], out: RunResult, where: str) -> RunResult:
        flow = self.config.flows[frame["flow"]]
        if flow.handoff_when_stuck:
            out.replies.append(
                Reply(
                    f"{flow.stuck_message} {self.handoff_message}",
                    meta={"step": "handoff", "flow": frame["flow"]},
                )
            )
            out.status, out.reason = HANDOFF, f"flow {frame['flow']}: no valid answer to {where}"
        else:
            out.replies.append(
                Reply(
                    f"{flow.stuck_message} {flow.cancel_message}",
                    meta={"step": "flow", "flow": frame["flow"]},
                )
            )
            out.status = CANCELLED
        return out

    async def run(
        self,
        frame: dict[str, Any],
        profile: dict[str, Any] | None,
        segment: str | None,
        out: RunResult,
    ) -> RunResult:
        """Advance the frame until it waits for the customer or ends; fills ``out``."""
        flow = self.config.flows[frame["flow"]]
        program = self.programs[frame["flow"]]
        frame["asking"] = None
        for _ in range(MAX_STEPS_PER_TURN):
            scope = self.scope(frame, profile, segment)
            if frame["pc"] == 0:
                missing = self.missing_slot(frame, scope)
                if missing is not None:
                    self.ask(frame, missing, scope, out)
                    out.status = WAITING
                    return out
            if frame["pc"] >= len(program):
                out.status = COMPLETED
                return out
            instr = program[frame["pc"]]
            frame["pc"] += 1
            if instr.op == "say":
                out.replies.append(self._reply(instr, scope, frame))
            elif instr.op == "jump":
                frame["pc"] = instr.target
            elif instr.op == "jump_unless":
                if not templates.evaluate(instr.cond or "False", scope):
                    frame["pc"] = instr.target
            elif instr.op == "outcome_is":
                if frame["results"].get(instr.result, {}).get("outcome") != instr.name:
                    frame["pc"] = instr.target
            elif instr.op == "call":
                result = await self._call(instr, scope, frame, out)
                if result.outcome == "error" and "error" not in instr.handled:
                    return self._failed(frame, flow, out, f"action {instr.name}: {result.error}")
            elif instr.op == "set":
                for key, expr in instr.values.items():
                    frame["vars"][key] = _plain(templates.evaluate(expr, scope))
            elif instr.op == "hook":
                try:
                    data = await hooks.run_hook(
                        instr.name or "", hooks.context_for(frame["flow"], scope)
                    )
                except Exception as exc:  # noqa: BLE001 - a broken hook must not crash a turn
                    return self._failed(frame, flow, out, f"hook {instr.name}: {exc!r}")
                frame["results"][instr.result or "hook"] = _plain(data)
                if isinstance(data.get("say"), str):
                    out.replies.append(Reply(data["say"], meta={"step": "flow"}))
            elif instr.op == "confirm":
                if frame["confirmed"] == frame["pc"] - 1:
                    frame["confirmed"] = None  # "yes": the next instruction jumps past "no"
                    continue
                frame["pc"] -= 1  # stay on the question until it is answered
                frame["confirming"] = frame["pc"]
                out.replies.append(self._reply(instr, scope, frame))
                out.status = WAITING
                return out
            elif instr.op == "collect":
                if instr.name not in frame["slots"]:
                    frame["pc"] -= 1
                    self.ask(frame, instr.name or "", scope, out)
                    out.status = WAITING
                    return out
            elif instr.op == "reask":
                slot = instr.name or ""
                prefix = templates.render(instr.text, scope) if instr.text else None
                frame["slots"].pop(slot, None)
                if slot in frame["prefilled"]:
                    frame["prefilled"].remove(slot)
                frame["results"] = {}
                frame["pc"] = 0
                if self.retry(frame, slot):
                    if prefix:
                        out.replies.append(Reply(prefix, meta={"step": "flow"}))
                    return self.stuck(frame, out, slot)
                self.ask(frame, slot, self.scope(frame, profile, segment), out, prefix)
                out.status = WAITING
                return out
            elif instr.op == "handoff":
                text = templates.render(instr.text, scope) if instr.text else self.handoff_message
                out.replies.append(Reply(text, meta={"step": "handoff", "flow": frame["flow"]}))
                out.status, out.reason = HANDOFF, f"flow {frame['flow']}: {instr.name}"
                return out
            elif instr.op == "end":
                if instr.text:
                    out.replies.append(self._reply(instr, scope, frame))
                out.status = instr.status or COMPLETED
                return out
        return self._failed(frame, flow, out, "too many steps in one turn (a loop?)")

    def _reply(self, instr: Instr, scope: dict[str, Any], frame: dict[str, Any]) -> Reply:
        return Reply(
            templates.render(instr.text or "", scope),
            quick_replies=list(instr.quick_replies),
            meta={"step": "flow", "flow": frame["flow"]},
        )

    async def _call(
        self, instr: Instr, scope: dict[str, Any], frame: dict[str, Any], out: RunResult
    ) -> ActionResult:
        spec = self.config.actions[instr.name or ""]
        result = await call_action(instr.name or "", spec, self.backends[spec.backend], scope)
        frame["results"][instr.result or ""] = _plain(result.scope())
        out.events.append(("action.called", {"flow": frame["flow"], **result.event()}))
        return result

    def _failed(self, frame: dict[str, Any], flow: FlowSpec, out: RunResult, why: str) -> RunResult:
        out.events.append(("flow.error", {"flow": frame["flow"], "error": why}))
        if flow.handoff_on_error:
            out.replies.append(
                Reply(
                    f"{flow.error_message} {self.handoff_message}",
                    meta={"step": "handoff", "flow": frame["flow"]},
                )
            )
            out.status, out.reason = HANDOFF, f"flow {frame['flow']} failed: {why}"
        else:
            out.replies.append(
                Reply(flow.error_message, meta={"step": "flow", "flow": frame["flow"]})
            )
            out.status = FAILED
        out.reason = out.reason or why
        return out


def _plain(value: Any) -> Any:
    """JSON-safe copy (the state is saved as JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
