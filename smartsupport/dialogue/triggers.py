"""Would a flow start on this message? The questions asked before a flow takes a turn.

The assistant asks them to decide between a flow and an article (assistant.py: "how long do
refunds take?" asks about the refund flow's policy and gets the article's answer; "where is
my refund?" starts the flow); the dialogue manager asks ``chosen`` when it starts or switches
flows, so that "would this start a flow?" and the start itself agree.

They only read: the engines the manager built, the turn, and the dialogue state (where
``choice.choose`` keeps the flow chosen for this message).
"""

from __future__ import annotations

import re
from typing import Any

from smartsupport.dialogue import choice as choosing
from smartsupport.dialogue.choice import Chosen, FlowChoice
from smartsupport.dialogue.engine import Engine
from smartsupport.domain import ConversationStatus
from smartsupport.nlu.asking import asks_how
from smartsupport.turn import Turn


def trigger(engine: Engine, turn: Turn) -> str | None:
    """The flow whose intents hold the message's intent, confident enough; by configuration."""
    intent = turn.understanding.intent
    for name, flow in engine.config.flows.items():
        if intent in flow.intents and turn.understanding.confidence >= flow.min_confidence:
            return name
    return None


async def chosen(
    engine: Engine, state: dict[str, Any], turn: Turn, flow_choice: FlowChoice | None
) -> Chosen | None:
    """The flow this message starts: the configured one, or the ``flow_choice``'s."""
    name = trigger(engine, turn)
    if name is None:
        return None
    return await choosing.choose(state, turn, name, engine.config.flows, flow_choice)


async def would_start(
    engine: Engine | None, turn: Turn, flow_choice: FlowChoice | None
) -> str | None:
    """The flow this message would start, when no flow is active; else None."""
    if engine is None or turn.conversation.status is ConversationStatus.WITH_AGENT:
        return None
    state = dialogue_state(turn.context.data)
    if state.get("active") is not None:
        return None
    found = await chosen(engine, state, turn, flow_choice)
    return found.flow if found is not None else None


def flow_of_intent(engine: Engine | None, intent: str) -> str | None:
    """The flow that ``intent`` starts in the engine's workspace, if any."""
    if engine is None:
        return None
    return next((n for n, f in engine.config.flows.items() if intent in f.intents), None)


def starts_on_questions(engine: Engine | None, turn: Turn, name: str) -> bool:
    """Whether flow ``name`` starts on this question about it (``on_question: start``).

    A look-up flow starts on a question that names what it looks up ("do you have the
    Trail Runner in 43?": the product slot is in the message) or that has no policy
    wording ("where is my refund?"); "how long do refunds take?" asks about the policy
    and gets the article's answer."""
    flow = engine.config.flows.get(name) if engine is not None else None
    if flow is None or flow.on_question != "start":
        return False
    return not asks_how(turn.message.text) or names_slot(engine, turn, name)


def names_slot(engine: Engine | None, turn: Turn, name: str) -> bool:
    """Whether the message fills a slot of flow ``name`` ("… order ORD-10234")."""
    flow = engine.config.flows.get(name) if engine is not None else None
    if flow is None:
        return False
    entities = {e.type for e in turn.understanding.entities}
    return any(
        (slot.entity is not None and slot.entity in entities)
        or (slot.extract is not None and re.search(slot.extract, turn.message.text))
        for slot in flow.slots.values()
    )


def dialogue_state(data: dict[str, Any]) -> dict[str, Any]:
    """The dialogue state in the context's ``data`` (``data["dialogue"]``), made whole:
    ``active`` and ``stack`` always present; a damaged state starts again empty."""
    state = data.get("dialogue")
    if not isinstance(state, dict) or not isinstance(state.get("stack", []), list):
        state = {}
    state.setdefault("active", None)
    state.setdefault("stack", [])
    data["dialogue"] = state
    return state
