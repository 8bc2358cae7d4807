"""The flow engine: the loop that runs a flow's program (``program.py``) for one turn.

It runs until the flow has to wait for the customer (a missing slot, a confirmation) or ends
(completed, cancelled, failed, handed over). Before the first step every required slot is
filled; a corrected slot sends the flow back to the first step, so results that depended on
the old value (the order that was looked up) are fetched again. The frame (the running flow's
JSON state) holds everything between turns; the Engine itself keeps nothing.

A flow speaks one language, ``frame["language"]``: the customer's when it started (answers
such as "ORD-10234" or "42" say nothing about a language). Each text is the flow's own in
that language, else in the workspace's default language; a text the flow leaves out is the
message catalog's (``messages.text``). Templates render with ``language`` set to the language
of the text they are in, so ``money`` and ``date`` match the sentence around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartsupport import messages, rich
from smartsupport.dialogue import hooks, scheduling, templates
from smartsupport.dialogue.actions import ActionResult, Backend, call_action
from smartsupport.dialogue.program import Instr, compile_flow
from smartsupport.dialogue.scheduling import Scheduled, Unscheduled
from smartsupport.dialogue.schema import Buttons, CardSpec, FlowsConfig, FlowSpec, Text
from smartsupport.domain import Reply, utcnow
from smartsupport.workspaces import WorkspaceConfig

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
    scheduled: list[Scheduled] = field(default_factory=list)  # proactive messages for later
    cancelled: list[Unscheduled] = field(default_factory=list)  # scheduled ones called back


def new_frame(flow: str, language: str = "") -> dict[str, Any]:
    """The JSON state of one running flow, which speaks ``language``."""
    return {
        "flow": flow,
        "language": messages.normalise(language),
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
        self, config: FlowsConfig, backends: dict[str, Backend], workspace: WorkspaceConfig
    ) -> None:
        self.config = config
        self.backends = backends
        self.workspace = workspace
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
            "remembered": frame.get("remembered"),  # a verified customer's past (manager.py)
            "flow": frame["flow"],
            "language": self.language(frame),
            "facts": self.workspace.facts,
        }

    # -- what the customer reads, in the flow's language ---------------------------------

    def language(self, frame: dict[str, Any]) -> str:
        """The language the flow speaks (frames saved before flows had one: the default)."""
        return str(frame.get("language") or messages.normalise(self.workspace.default_locale))

    def words(
        self,
        frame: dict[str, Any],
        text: Text | None,
        key: str | None,
        scope: dict[str, Any],
        /,
        **fields: Any,
    ) -> str:
        """The flow's own ``text`` rendered in the flow's language (else the default's), or
        the catalog's ``key`` when the flow wrote none."""
        if text is not None:
            language, template = messages.pick(
                text, self.language(frame), self.workspace.default_locale
            )
            return templates.render(template, {**scope, "language": language})
        if key is None:
            return ""
        return messages.text(self.workspace, key, self.language(frame), **fields)

    def buttons(self, frame: dict[str, Any], quick: Buttons | None) -> list[str]:
        """Quick replies in the flow's language; ``None``: a confirmation's yes and no."""
        language = self.language(frame)
        if quick is None:
            return [
                messages.text(self.workspace, "flow.yes", language),
                messages.text(self.workspace, "flow.no", language),
            ]
        return list(messages.pick(quick, language, self.workspace.default_locale)[1])

    def handoff_message(self, frame: dict[str, Any]) -> str:
        return messages.text(self.workspace, "handoff.message", self.language(frame))

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
        quick = self.buttons(frame, slot.quick_replies_by_language or slot.quick_replies)
        if slot.suggest:
            suggested = templates.evaluate(slot.suggest, scope)
            if isinstance(suggested, list):
                quick += [str(s) for s in suggested if s and len(str(s)) <= 80]
        text = self.words(frame, slot.ask, None, scope)
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
        scope = self.scope(frame, None, None)
        sorry = self.words(frame, flow.stuck_message, "flow.stuck", scope)
        if flow.handoff_when_stuck:
            out.replies.append(
                Reply(
                    f"{sorry} {self.handoff_message(frame)}",
                    meta={"step": "handoff", "flow": frame["flow"]},
                )
            )
            out.status, out.reason = HANDOFF, f"flow {frame['flow']}: no valid answer to {where}"
        else:
            stopped = self.words(frame, flow.cancel_message, "flow.cancelled", scope)
            out.replies.append(
                Reply(f"{sorry} {stopped}", meta={"step": "flow", "flow": frame["flow"]})
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
                prefix = self.words(frame, instr.text, None, scope) if instr.text else None
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
            elif instr.op == "schedule":
                self._schedule(instr, scope, frame, out)
            elif instr.op == "cancel":
                self._cancel(instr, scope, frame, out)
            elif instr.op == "handoff":
                text = (
                    self.words(frame, instr.text, None, scope)
                    if instr.text
                    else self.handoff_message(frame)
                )
                out.replies.append(Reply(text, meta={"step": "handoff", "flow": frame["flow"]}))
                out.status, out.reason = HANDOFF, f"flow {frame['flow']}: {instr.name}"
                return out
            elif instr.op == "end":
                if instr.text or instr.key:
                    out.replies.append(self._reply(instr, scope, frame))
                out.status = instr.status or COMPLETED
                return out
        return self._failed(frame, flow, out, "too many steps in one turn (a loop?)")

    def _reply(self, instr: Instr, scope: dict[str, Any], frame: dict[str, Any]) -> Reply:
        meta: dict[str, Any] = {"step": "flow", "flow": frame["flow"]}
        if instr.card is not None:
            meta["rich"] = self.card(frame, instr.card, scope)
        return Reply(
            self.words(frame, instr.text, instr.key, scope),
            quick_replies=self.buttons(frame, instr.quick_replies),
            meta=meta,
        )

    def card(self, frame: dict[str, Any], spec: CardSpec, scope: dict[str, Any]) -> list[Any]:
        """A step's card as rich blocks (rich.py), in the flow's language. A link that
        renders empty or not as an http(s) URL is left out rather than failing the turn."""

        def text(value: Text | None) -> str:
            if isinstance(value, str):  # data (names, ids, prices): money and dates localised
                return templates.render(value, {**scope, "language": self.language(frame)}).strip()
            return self.words(frame, value, None, scope).strip() if value is not None else ""

        def url(value: str | None) -> str:
            return templates.render(value, scope).strip() if value else ""

        buttons: list[dict[str, Any]] = []
        for button in spec.buttons:
            title = text(button.title)[:80]
            if not title:
                continue
            if button.url is not None:
                if rich.is_web_url(url(button.url)):
                    buttons.append({"type": "link", "title": title, "url": url(button.url)})
            else:
                said = text(button.payload) or title
                buttons.append({"type": "postback", "title": title, "payload": said})
        data: dict[str, Any] = {
            "type": "card",
            "title": text(spec.title)[:80],
            "subtitle": text(spec.subtitle)[:400],
            "buttons": buttons,
        }
        for key in ("image_url", "url"):
            found = url(getattr(spec, key))
            if rich.is_web_url(found):
                data[key] = found
        try:
            return rich.dump([rich.block(data)])
        except ValueError:
            return []  # an empty title: the text still says everything

    async def _call(
        self, instr: Instr, scope: dict[str, Any], frame: dict[str, Any], out: RunResult
    ) -> ActionResult:
        spec = self.config.actions[instr.name or ""]
        result = await call_action(instr.name or "", spec, self.backends[spec.backend], scope)
        frame["results"][instr.result or ""] = _plain(result.scope())
        out.events.append(("action.called", {"flow": frame["flow"], **result.event()}))
        return result

    def _schedule(
        self, instr: Instr, scope: dict[str, Any], frame: dict[str, Any], out: RunResult
    ) -> None:
        """Plan a proactive message (scheduling.py). Data that gives no time is recorded
        and the flow goes on: the customer's business was done, only the reminder is lost."""
        text = self.words(frame, instr.text, None, scope)
        try:
            planned = scheduling.plan(instr.schedule, frame["flow"], text, scope, utcnow())
        except ValueError as exc:  # ScheduleError, TemplateError, a bad date
            why = {"flow": frame["flow"], "message": instr.name, "error": str(exc)[:300]}
            out.events.append(("flow.not_scheduled", why))
            return
        out.scheduled.append(planned)

    def _cancel(
        self, instr: Instr, scope: dict[str, Any], frame: dict[str, Any], out: RunResult
    ) -> None:
        """Call back a scheduled message (scheduling.py): one planned earlier in this turn is
        dropped; the stored one is called back with the turn. A key that renders empty is
        recorded and the flow goes on, like a reminder that could not be scheduled."""
        try:
            called_back = scheduling.unplan(instr.cancel, frame["flow"], scope)
        except ValueError as exc:  # ScheduleError, TemplateError
            why = {"flow": frame["flow"], "message": instr.name, "error": str(exc)[:300]}
            out.events.append(("flow.not_unscheduled", why))
            return
        out.scheduled = [s for s in out.scheduled if not called_back.matches(s)]
        out.cancelled.append(called_back)

    def _failed(self, frame: dict[str, Any], flow: FlowSpec, out: RunResult, why: str) -> RunResult:
        out.events.append(("flow.error", {"flow": frame["flow"], "error": why}))
        sorry = self.words(frame, flow.error_message, "flow.error", self.scope(frame, None, None))
        if flow.handoff_on_error:
            out.replies.append(
                Reply(
                    f"{sorry} {self.handoff_message(frame)}",
                    meta={"step": "handoff", "flow": frame["flow"]},
                )
            )
            out.status, out.reason = HANDOFF, f"flow {frame['flow']} failed: {why}"
        else:
            out.replies.append(Reply(sorry, meta={"step": "flow", "flow": frame["flow"]}))
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
