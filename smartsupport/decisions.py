"""The order of decisions, as data: who answers a customer message, and why.

Handoff rules run first and wrap everything (``assistant.decide``). Then these steps are
tried in order until one answers; a workspace may reorder or drop steps with
``decision_order`` in workspace.yaml:

    flow             an active flow takes the message, or the message asks for an action a
                     flow does ("I want to return my shoes", "cancel ORD-10234"); a question
                     *about* that action ("how long do I have to return something?") is
                     left to the knowledge base, which then offers to start the flow
    small_talk       greeting, thanks, goodbye: the workspace's configured reply
    knowledge        a passage that *answers* the question (knowledge.answerability), in the
                     customer's language, else the workspace's default language, never a
                     third; each question of a message with several is answered
    intent_response  the workspace's authored response for the intent, when it answers this
                     message (knowledge.answerability, as for a passage; conversational
                     responses such as an apology are not checked) and no flow owns the intent
    keywords         the keyword bot: FAQ keywords, the demo shop's order look-up
    no_answer        a question nobody could answer: say so and offer a person; anything
                     else gets the workspace's fallback

The step that answered, and what each earlier step made of the message, is recorded on the
turn: the replies' ``meta.decision`` and a ``decision`` event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smartsupport import reply_language
from smartsupport.dialogue import small_words
from smartsupport.dialogue.small_words import NO, YES
from smartsupport.domain import Passage
from smartsupport.errors import ConfigurationError
from smartsupport.nlu.asking import asks_about
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig

STEPS = ("flow", "small_talk", "knowledge", "intent_response", "keywords", "no_answer")
SMALL_TALK = {"greeting", "thanks", "goodbye"}
HUMAN_INTENT = "human_agent"
OFFERED_FLOW = "offered_flow"  # in ConversationContext.data: a flow the last answer offered
OFFERED_PERSON = "offered_person"  # ... the last answer offered a person ("no answer")


def decision_order(workspace: WorkspaceConfig) -> tuple[str, ...]:
    """The workspace's order of steps (``decision_order`` in workspace.yaml) or the default."""
    configured = (workspace.model_extra or {}).get("decision_order")
    if configured is None:
        return STEPS
    if not isinstance(configured, list) or not configured:
        raise ConfigurationError(
            f"workspace {workspace.id}: decision_order must be a list of steps: {', '.join(STEPS)}"
        )
    unknown = [s for s in configured if s not in STEPS]
    if unknown:
        raise ConfigurationError(
            f"workspace {workspace.id}: unknown decision_order step(s) {unknown}; "
            f"use {', '.join(STEPS)}"
        )
    return tuple(configured)


def conversational_intents(workspace: WorkspaceConfig) -> frozenset[str]:
    """Intents whose responses converse rather than inform ("I'm sorry, tell me what
    happened"): small talk, asking for a person, and ``conversational_intents`` in
    workspace.yaml. Every other authored response must answer the message it is given for."""
    configured = (workspace.model_extra or {}).get("conversational_intents") or []
    if not isinstance(configured, list) or not all(isinstance(i, str) for i in configured):
        raise ConfigurationError(
            f"workspace {workspace.id}: conversational_intents must be a list of intent names"
        )
    return frozenset({*SMALL_TALK, HUMAN_INTENT, *configured})


@dataclass
class Deliberation:
    """What the steps learned about one message while deciding."""

    language: str
    intent: str | None
    asks_about: bool
    tried: list[dict[str, str]] = field(default_factory=list)
    offer_flow: str | None = None  # a flow the message is about, to offer after an answer
    keyword_fallback: Decision | None = None
    knowledge_candidates: int = 0
    # (question, language) -> (passages, their language), for the steps after knowledge
    retrieved: dict[tuple[str, str], tuple[list[Passage], str]] = field(default_factory=dict)
    reason: str = ""  # why the step that answers did
    # The articles' answer and how many passages were looked at, once worked out (the flow
    # step may need it before the knowledge step's turn)
    answer: tuple[Decision | None, int] | None = None

    def skip(self, step: str, why: str) -> None:
        self.tried.append({"step": step, "outcome": "passed", "detail": why})


def deliberation(turn: Turn) -> Deliberation:
    understanding = turn.understanding
    intent = understanding.intent if not understanding.out_of_scope else None
    return Deliberation(
        language=reply_language.for_turn(turn),
        intent=intent,
        asks_about=asks_about(turn.message.text),
    )


def record(decision: Decision, step: str, why: str, state: Deliberation) -> Decision:
    """Mark ``decision`` as made by ``step``: on each reply and as the turn's event."""
    for reply in decision.replies:
        reply.meta.setdefault("decision", step)
    state.tried.append({"step": step, "outcome": "answered", "detail": why})
    decision.events.append(("decision", {"step": step, "reason": why, "tried": list(state.tried)}))
    return decision


def offered_flow(turn: Turn) -> str | None:
    """The flow the previous answer offered, when this message accepts the offer."""
    offer = turn.context.data.pop(OFFERED_FLOW, None)
    if not isinstance(offer, dict):
        return None
    text = turn.message.text.strip().casefold()
    if text == str(offer.get("button", "")).casefold() or small_words.read(text) == YES:
        return str(offer.get("flow")) or None
    return None


def accepts_person(turn: Turn) -> bool:
    """Whether this message says yes to the person the previous answer offered ("I couldn't
    find that. Would you like to talk to a person?" - "yes please")."""
    offered = turn.context.data.pop(OFFERED_PERSON, False)
    return bool(offered) and small_words.read(turn.message.text) == YES


def offer_person(turn: Turn) -> None:
    turn.context.data[OFFERED_PERSON] = True


def bare_answer(text: str) -> bool:
    """A yes or a no on its own ("oui", "はい", "no thanks"): an answer, never a greeting."""
    return small_words.read(text) in (YES, NO)


def offer(turn: Turn, decision: Decision, flow: str, button: str) -> None:
    """Add a button that starts ``flow`` to the answer, and remember the offer."""
    if not decision.replies:
        return
    last = decision.replies[-1]
    if button not in last.quick_replies:
        last.quick_replies = [*last.quick_replies, button]
    turn.context.data[OFFERED_FLOW] = {"flow": flow, "button": button}
