"""The dialogue manager: the flows' seam in the conversation path.

    decision = await dialogue.handle(turn)        # a flow is active, or an intent starts one
    if decision is None:                          # not ours: knowledge answers, fallback ...
        decision = await answers(turn)
        reminder = await dialogue.followup(turn)  # a flow paused by that digression, if any
        if reminder: decision.replies.append(reminder)

All dialogue state is JSON in ``turn.context.data["dialogue"]`` (the conversation path saves
the context after the turn):

    active   the running flow's frame (flow, slots, asking, confirming, pc, results, ...)
    stack    flows paused by a switch to another flow, resumed when it ends
    profile  the identified customer's profile, fetched when a flow starts
    last     the flow that ended last: name, status, slots (for tests and analytics)

Which flow an intent starts may be an A/B test's: the wiring hands the manager a
``flow_choice`` (dialogue/choice.py); the chosen flow's marks go on its replies and events.

An identified customer is ``conversation.metadata["identity"]["user_id"]`` (set only after
``identity.verify``); flows then get ``customer`` (their profile and orders) and
``segment``, and pass the customer id to the business's API, which answers for that
customer's own orders only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from smartsupport import reply_language
from smartsupport.demo_shop import Shops
from smartsupport.dialogue import choice as choosing
from smartsupport.dialogue import scheduling, triggers
from smartsupport.dialogue import slots as slotting
from smartsupport.dialogue.backends import Backends
from smartsupport.dialogue.choice import Chosen, FlowChoice
from smartsupport.dialogue.engine import (
    CANCELLED,
    COMPLETED,
    FAILED,
    HANDOFF,
    WAITING,
    Engine,
    RunResult,
    new_frame,
)
from smartsupport.dialogue.loading import load_flows
from smartsupport.dialogue.personal import load_profile, segment_of
from smartsupport.dialogue.triggers import dialogue_state
from smartsupport.domain import ConversationStatus, Reply
from smartsupport.nlu.asking import states
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger(__name__)

HUMAN_INTENTS = {"human_agent"}
MAX_STACK = 3
# What is remembered of the turn's verified customer (previous_case.remembered: the facts of
# customer_memory.remembered, the order of the earlier case the message refers to first).
Recall = Callable[[Turn], Awaitable[dict[str, Any] | None]]


class DialogueManager:
    """Runs every workspace's flows. Build once per process (it owns HTTP clients and the
    circuit breakers); ``backend_urls`` overrides base URLs by backend name (tests, staging)."""

    def __init__(
        self,
        workspaces: Mapping[str, WorkspaceConfig],
        http: httpx.AsyncClient | None,
        settings: Any = None,
        *,
        backend_urls: Mapping[str, str] | None = None,
        shops: Shops | None = None,
        flow_choice: FlowChoice | None = None,
    ) -> None:
        self.settings = settings
        self.flow_choice = flow_choice  # None: the configured flow always starts
        self.recall: Recall | None = None  # handed in by the assistant, like flow_choice
        self._backends = Backends(http, backend_urls, shops)
        self.engines: dict[str, Engine] = {}
        for workspace in workspaces.values():
            section = workspace.section("flows")
            if not section:
                continue
            source = (workspace.source_dir / "flows.yaml") if workspace.source_dir else "flows.yaml"
            config = load_flows(section, source, default_language=workspace.default_locale)
            backends = {
                name: self._backends.build(workspace, name, spec)
                for name, spec in config.backends.items()
            }
            self.engines[workspace.id] = Engine(config, backends, workspace)

    async def aclose(self) -> None:
        await self._backends.aclose()

    # -- the seam ------------------------------------------------------------------------

    async def handle(self, turn: Turn) -> Decision | None:
        """A Decision when a flow is active or the message's intent starts one; else None."""
        try:
            return await self._handle(turn)
        except Exception:  # noqa: BLE001 - a flow bug must not break the conversation path
            log.exception("dialogue failed in conversation %s; flows reset", turn.conversation.id)
            turn.context.data["dialogue"] = {"active": None, "stack": []}
            return None

    async def _handle(self, turn: Turn) -> Decision | None:
        engine = self.engines.get(turn.workspace.id)
        if engine is None or turn.conversation.status is ConversationStatus.WITH_AGENT:
            return None
        state = dialogue_state(turn.context.data)
        state.pop("resume", None)
        frame = state.get("active")
        if frame is not None and frame.get("flow") not in engine.config.flows:
            state["active"], frame = None, None  # the flow was removed from the configuration
        out = RunResult(WAITING)
        if frame is None:
            chosen = await triggers.chosen(engine, state, turn, self.flow_choice)
            if chosen is None:
                return None
            await self._start(engine, state, chosen.flow, turn, out, chosen)
        elif not await self._continue(engine, state, frame, turn, out):
            return None
        return await self._finish(engine, state, turn, out)

    # Would a flow start on this message? Asked by the assistant; dialogue/triggers.py.
    async def would_start(self, turn: Turn) -> str | None:
        """The flow this message would start, when no flow is active; else None."""
        engine = self.engines.get(turn.workspace.id)
        return await triggers.would_start(engine, turn, self.flow_choice)

    def flow_of_intent(self, workspace_id: str, intent: str) -> str | None:
        """The flow that ``intent`` starts in the workspace, if any."""
        return triggers.flow_of_intent(self.engines.get(workspace_id), intent)

    def starts_on_questions(self, turn: Turn, name: str) -> bool:
        """Whether flow ``name`` starts on this question about it (``on_question: start``)."""
        return triggers.starts_on_questions(self.engines.get(turn.workspace.id), turn, name)

    def names_slot(self, turn: Turn, name: str) -> bool:
        """Whether the message fills a slot of flow ``name`` ("… order ORD-10234")."""
        return triggers.names_slot(self.engines.get(turn.workspace.id), turn, name)

    async def start(self, turn: Turn, name: str) -> Decision | None:
        """Start flow ``name`` now (the customer accepted an offer to do it for them)."""
        engine = self.engines.get(turn.workspace.id)
        if engine is None or name not in engine.config.flows:
            return None
        state = dialogue_state(turn.context.data)
        chosen = choosing.offered(state, name)  # the asking message's choice, marks and all
        out = RunResult(WAITING)
        await self._start(engine, state, name, turn, out, chosen)
        return await self._finish(engine, state, turn, out)

    async def followup(self, turn: Turn) -> Reply | None:
        """After another part answered a digression: the paused flow's question again."""
        state = dialogue_state(turn.context.data)
        frame = state.get("active")
        engine = self.engines.get(turn.workspace.id)
        if not state.pop("resume", None) or frame is None or engine is None:
            return None
        question = frame.get("question") or {}
        lead = engine.words(
            frame, engine.config.flows[frame["flow"]].resume_message, "flow.resume", {}
        )
        return Reply(
            f"{lead} {question.get('text', '')}".strip(),
            quick_replies=list(question.get("quick_replies", [])),
            meta={"step": "flow", "flow": frame["flow"], "resume": True},
        )

    # -- turns ---------------------------------------------------------------------------

    async def _start(
        self,
        engine: Engine,
        state: dict[str, Any],
        name: str,
        turn: Turn,
        out: RunResult,
        chosen: Chosen | None = None,
    ) -> None:
        frame = new_frame(name, reply_language.for_turn(turn))
        marks = dict(chosen.meta) if chosen is not None else {}
        if marks:
            frame["marks"] = marks  # on the flow's replies (``_finish``) and its end event
        state["active"] = frame
        profile = await load_profile(engine, state, turn, out)
        if self.recall is not None:  # templates' ``remembered``; None for the unverified
            frame["remembered"] = await self.recall(turn)
        flow = engine.config.flows[name]
        scope = engine.scope(frame, profile, segment_of(state, turn))
        carried = (state.get("last") or {}).get("slots") or {}
        known = profile is not None or frame.get("remembered") is not None
        invalid = slotting.fill_at_start(
            flow, frame, scope if known else None, carried,
            turn.message.text, turn.understanding,
        )  # fmt: skip
        out.events.append(
            (
                "flow.started",
                {
                    "flow": name,
                    "intent": turn.understanding.intent,
                    "slots": sorted(frame["slots"]),
                    "identified": profile is not None,
                    "segment": segment_of(state, turn),
                    **marks,
                },
            )
        )
        if chosen is not None:
            out.events += chosen.events
        for cand in invalid:
            text = flow.slots[cand.slot].invalid
            if text:
                out.replies.append(
                    Reply(
                        engine.words(frame, text, None, {**scope, "value": cand.value}),
                        meta={"step": "flow", "flow": name},
                    )
                )
        await engine.run(frame, profile, segment_of(state, turn), out)

    async def _continue(
        self,
        engine: Engine,
        state: dict[str, Any],
        frame: dict[str, Any],
        turn: Turn,
        out: RunResult,
    ) -> bool:
        """Move the active flow on with this message; False hands the turn to others."""
        flow = engine.config.flows[frame["flow"]]
        text, understanding = turn.message.text, turn.understanding
        profile, segment = state.get("profile"), segment_of(state, turn)
        if slotting.is_cancel(text, engine.config.cancel_phrases):
            stopped = engine.words(frame, flow.cancel_message, "flow.cancelled", {})
            out.replies.append(Reply(stopped, meta={"step": "flow", "flow": frame["flow"]}))
            out.status = CANCELLED
            return True
        if understanding.intent in HUMAN_INTENTS:
            self._end(state, frame, CANCELLED, out, "customer asked for a person")
            state["stack"] = []
            return False  # the handoff is the caller's job; the flow just steps aside
        chosen = await triggers.chosen(engine, state, turn, self.flow_choice)
        trigger = chosen.flow if chosen is not None else None
        asking = frame.get("asking")
        offers = slotting.offers_for(flow, frame, engine.scope(frame, profile, segment))
        cands = slotting.candidates(flow, text, understanding, asking, offers)
        if _elsewhere(understanding, trigger, frame["flow"]) and (
            trigger is not None or not states(text)
        ):
            # A whole answer that is clearly about something else ("cancel my order", "what
            # payment methods do you take?") is not an address or a reason. A statement is:
            # asked why, "elle est trop petite" is the reason, whatever intent it resembles.
            cands = [c for c in cands if not c.free_text]
        corrections = [
            c
            for c in cands
            if c.valid and c.slot in frame["slots"] and frame["slots"][c.slot] != c.value
        ]
        fresh = [c for c in cands if c.valid and c.slot not in frame["slots"]]
        if corrections or fresh:
            for cand in corrections + fresh:
                frame["slots"][cand.slot] = cand.value
                if cand.slot in frame["prefilled"]:
                    frame["prefilled"].remove(cand.slot)
            if corrections:
                values = ", ".join(c.value for c in corrections)
                noted = engine.words(frame, None, "flow.corrected", {}, values=values)
                out.replies.append(Reply(noted, meta={"step": "flow", "flow": frame["flow"]}))
                out.events.append(
                    (
                        "flow.corrected",
                        {"flow": frame["flow"], "slots": [c.slot for c in corrections]},
                    )
                )
                frame["pc"], frame["results"], frame["confirming"] = 0, {}, None
            await engine.run(frame, profile, segment, out)
            return True
        if frame.get("confirming") is not None:
            answer = _pressed(engine, frame, text) or slotting.yes_or_no(text, understanding)
            if answer is not None:
                position = frame["confirming"]
                frame["confirming"] = None
                if answer == "yes":
                    frame["confirmed"] = position
                else:
                    frame["pc"] = engine.programs[frame["flow"]][position].target
                await engine.run(frame, profile, segment, out)
                return True
        if trigger is not None and trigger != frame["flow"] and len(state["stack"]) < MAX_STACK:
            state["stack"].append(frame)  # switch; the paused flow resumes when this ends
            await self._start(engine, state, trigger, turn, out, chosen)
            return True
        bad = [c for c in cands if c.slot == asking and not c.valid]
        if trigger == frame["flow"] and not bad:  # the same request again: just ask again
            await engine.run(frame, profile, segment, out)
            return True
        key = asking or "confirm"
        digression = (
            understanding.intent is not None
            and not understanding.out_of_scope
            and trigger is None
            and understanding.confidence >= 0.5
        )
        if digression and frame["digressions"] < engine.config.max_digressions:
            frame["digressions"] += 1
            state["resume"] = True
            return False
        if engine.retry(frame, key):
            engine.stuck(frame, out, key)
            return True
        invalid_text = flow.slots[asking].invalid if asking else None
        if bad and invalid_text:
            scope = {**engine.scope(frame, profile, segment), "value": bad[0].value}
            prefix = engine.words(frame, invalid_text, None, scope)
        elif key == "confirm":
            prefix = engine.words(frame, None, "flow.yes_or_no", {})
        else:
            prefix = engine.words(frame, None, "flow.not_understood", {})
        out.replies.append(Reply(prefix, meta={"step": "flow", "flow": frame["flow"]}))
        await engine.run(frame, profile, segment, out)  # asks the same question again
        return True

    async def _finish(
        self, engine: Engine, state: dict[str, Any], turn: Turn, out: RunResult
    ) -> Decision:
        frame = state["active"]
        for reply in out.replies:  # an experiment's variant on the replies of its flow
            if frame.get("marks") and reply.meta.get("flow") == frame["flow"]:
                reply.meta.update(frame["marks"])
        if out.status == WAITING:
            question = next((r for r in reversed(out.replies)), None)
            if question is not None:
                frame["question"] = {"text": question.text, "quick_replies": question.quick_replies}
        else:
            self._end(state, frame, out.status, out, out.reason)
            if out.status == HANDOFF:
                state["stack"] = []
            elif state["stack"]:
                paused = state["stack"].pop()
                # The world may have changed meanwhile (the other flow may have cancelled
                # the very order): run the paused flow again from its first step.
                paused.update(pc=0, results={}, confirming=None, confirmed=None)
                state["active"] = paused
                flow = engine.config.flows[paused["flow"]]
                resumed = RunResult(WAITING)
                await engine.run(paused, state.get("profile"), segment_of(state, turn), resumed)
                if resumed.replies:  # "Now, back to where we were: <the question>"
                    first = resumed.replies[0]
                    lead = engine.words(paused, flow.resume_message, "flow.resume", {})
                    first.text = f"{lead} {first.text}"
                out.replies += resumed.replies
                out.events += resumed.events
                out.scheduled += resumed.scheduled
                out.cancelled += resumed.cancelled
                out.status, out.reason = resumed.status, resumed.reason
                return await self._finish(engine, state, turn, out)
        status = None
        if out.status == HANDOFF:
            status = ConversationStatus.WAITING
        elif turn.conversation.status is ConversationStatus.RESOLVED:
            status = ConversationStatus.BOT
        scheduled, noted = scheduling.outbox_items(turn, out.scheduled)  # written with the turn
        cancel, unnoted = scheduling.cancellations(turn, out.cancelled)  # and called back
        return Decision(
            out.replies,
            status=status,
            reason=out.reason if out.status == HANDOFF else None,
            events=out.events + noted + unnoted,
            outbox=scheduled,
            cancel=cancel,
        )

    def _end(
        self,
        state: dict[str, Any],
        frame: dict[str, Any],
        status: str,
        out: RunResult,
        reason: str | None,
    ) -> None:
        kind = {COMPLETED: "flow.completed", CANCELLED: "flow.cancelled"}.get(status, "flow.failed")
        data: dict[str, Any] = {"flow": frame["flow"], "status": status}
        if status in (FAILED, HANDOFF) or reason:
            data["reason"] = reason
        if status == HANDOFF:
            data["handoff"] = True
        segment = (state.get("profile") or {}).get("segment")
        if segment:
            data["segment"] = segment  # escalation rules may treat VIP failures first
        data.update(frame.get("marks") or {})  # an experiment's figures count the outcome
        out.events.append((kind, data))
        state["last"] = {"flow": frame["flow"], "status": status, "slots": dict(frame["slots"])}
        state["active"] = None


def _pressed(engine: Engine, frame: dict[str, Any], text: str) -> str | None:
    """'yes' or 'no' when the customer pressed one of the confirmation's buttons, whatever
    language they are in: a confirmation's quick replies are [yes, no]."""
    instr = engine.programs[frame["flow"]][frame["confirming"]]
    buttons = [slotting.plain(b) for b in engine.buttons(frame, instr.quick_replies)[:2]]
    said = slotting.plain(text)
    if said and said in buttons:
        return "yes" if buttons.index(said) == 0 else "no"
    return None


def _elsewhere(understanding: Any, trigger: str | None, flow: str) -> bool:
    """Is the message confidently about another topic than the running flow?"""
    if trigger is not None:
        return trigger != flow
    return (
        understanding.intent is not None
        and not understanding.out_of_scope
        and understanding.confidence >= 0.7
    )


def waiting_for(data: Mapping[str, Any]) -> str | None:
    """The slot the conversation's active flow asked for, which its next message answers
    (an e-mail address, a reason: nothing an intent model is meant to recognise), or None.
    ``data`` is the conversation context's data."""
    state = data.get("dialogue")
    active = state.get("active") if isinstance(state, dict) else None
    asking = active.get("asking") if isinstance(active, dict) else None
    return asking if isinstance(asking, str) else None
