"""Handoff rules evaluated on every turn: which fired, why, and what to do.

    compared = compared_texts(turn)             what an embedding rule compares, if any
    vectors = await encoder.vectors(compared) if compared else None
    outcome = evaluate(turn, customer, vectors=vectors)
                                                pure and fast: no I/O, no model
    if outcome:
        decision = apply(outcome, decision, conversation.metadata)
                                                handoff reply / offer button / status, events
                                                and the priority + reason as metadata
                                                changes, all in the Decision: the turn's
                                                record writes them in its one transaction

Slack/Teams notices on a transfer are the assistant's to add (``notify.handoff_notices``):
this module sits below the notifiers.

Per-conversation memory (consecutive low-confidence turns, recent questions, rules already
fired) lives in the session context (``turn.context``), so call ``evaluate`` once per turn.
A rule fires once per conversation unless it says ``repeat: true``; asking for a person and
the humans-only choice always count. While a conversation waits for or is held by an agent,
only ``raise_priority`` rules run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from smartsupport import messages, reply_language
from smartsupport.dialogue.manager import waiting_for
from smartsupport.domain import ConversationStatus, Customer, Reply, utcnow
from smartsupport.handoff import human_request, phrases
from smartsupport.handoff.config import HandoffConfig, for_workspace
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig

STRENGTH = {"raise_priority": 0, "offer_human": 1, "transfer": 2}
PRIORITY_ORDER = ["low", "normal", "high", "urgent"]
MAX_QUESTIONS = 10
STATE = "escalation"  # key in ConversationContext.data


@dataclass(slots=True)
class Firing:
    rule: str
    type: str
    action: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "type": self.type, "action": self.action, "reason": self.reason}


@dataclass(slots=True)
class HandoffTexts:
    """What the customer may be told, in their language (``messages.text``)."""

    offer: str
    offer_button: str
    offline: str

    @classmethod
    def for_language(cls, workspace: WorkspaceConfig | None, language: str) -> HandoffTexts:
        return cls(
            offer=messages.text(workspace, "handoff.offer", language),
            offer_button=messages.text(workspace, "handoff.offer_button", language),
            offline=messages.text(workspace, "handoff.offline", language),
        )


@dataclass(slots=True)
class HandoffOutcome:
    firings: list[Firing]
    action: str  # the strongest action among the firings
    priority: str | None  # the highest priority a firing asked for
    offline: bool  # outside business hours when evaluated
    next_open: datetime | None
    handoff_message: str  # in the customer's language, like ``messages``
    messages: HandoffTexts = field(default_factory=lambda: HandoffTexts.for_language(None, "en"))
    language: str = "en"  # the turn's, which the texts are in

    @property
    def reason(self) -> str:
        return "; ".join(f.reason for f in self.firings)


@dataclass(slots=True)
class _Compiled:
    config: HandoffConfig
    human: human_request.HumanRequest | None
    keywords: dict[str, phrases.CompiledKeywords]


def _patterns(workspace: WorkspaceConfig) -> _Compiled:
    """The workspace's rule patterns, compiled once and kept on the workspace object."""
    return workspace.parsed(
        "escalation:patterns",
        lambda _: _compile(
            for_workspace(workspace),
            sorted(set(messages.translations(workspace, "handoff.offer_button").values())),
        ),
    )


def prepare(workspace: WorkspaceConfig) -> None:
    """Compile the workspace's rule patterns now (start-up, ``warm_up.py``), not on its first
    turn: the "asks for a person" pattern alone takes tens of milliseconds to build."""
    _patterns(workspace)


def _compile(config: HandoffConfig, buttons: list[str] | None = None) -> _Compiled:
    """``buttons``: our offer button in every language, so pressing it asks for a person."""
    human = None
    keywords: dict[str, phrases.CompiledKeywords] = {}
    for rule in config.rules:
        if rule.type == "human_request":
            human = human_request.compile_human_request([*rule.extra_phrases, *(buttons or [])])
        elif rule.type == "keywords":
            keywords[rule.name] = phrases.compile_keywords(rule.words, rule.extra_words)
    return _Compiled(config, human, keywords)


# Rule types that look at the customer record; other workspaces never need to read it.
CUSTOMER_RULES = ("segment", "humans_only")


def needs_customer(workspace: WorkspaceConfig) -> bool:
    """Whether any of the workspace's rules looks at the customer."""
    return any(rule.type in CUSTOMER_RULES for rule in for_workspace(workspace).rules)


def compared_texts(turn: Turn) -> list[str]:
    """What a repeated_question rule that compares by embedding needs encoded for this turn
    (the message, then the questions the conversation asked before, as ``evaluate`` folds
    them); [] when no rule does or there is nothing to compare. The assistant encodes them
    with its batched encoder, off the event loop, where earlier turns' questions are cached."""
    config = for_workspace(turn.workspace)
    if not any(r.type == "repeated_question" and r.method == "embedding" for r in config.rules):
        return []
    previous = (turn.context.data.get(STATE) or {}).get("questions") or []
    text = phrases.fold(turn.message.text)
    return [text, *previous] if text and previous else []


def evaluate(
    turn: Turn,
    customer: Customer | None,
    *,
    now: datetime | None = None,
    vectors: np.ndarray | None = None,
) -> HandoffOutcome | None:
    """The rules of the turn's workspace that fire on this turn, or None. ``vectors``: those
    of ``compared_texts(turn)``, when it names any."""
    config = for_workspace(turn.workspace)
    if not config.rules:
        return None
    now = now or utcnow()
    compiled = _patterns(turn.workspace)
    state = turn.context.data.setdefault(STATE, {"fired": [], "questions": []})
    understanding = turn.understanding
    text = phrases.fold(turn.message.text)
    live = turn.conversation.status in (ConversationStatus.BOT, ConversationStatus.RESOLVED)
    firings: list[Firing] = []
    priority: str | None = None
    for rule in config.rules:
        reason = _check(rule, turn, customer, text, compiled, state, now, vectors)
        if reason is None:
            continue
        if not live and rule.action != "raise_priority":
            continue
        always = rule.type in ("human_request", "humans_only")
        if rule.name in state["fired"] and not (rule.repeat or always):
            continue
        if rule.name not in state["fired"]:
            state["fired"].append(rule.name)
        firings.append(Firing(rule.name, rule.type, rule.action, reason))
        if rule.priority and (
            priority is None or PRIORITY_ORDER.index(rule.priority) > PRIORITY_ORDER.index(priority)
        ):
            priority = rule.priority
    _remember_question(state, text, understanding.intent)
    if not firings:
        return None
    hours = config.business_hours
    offline = hours is not None and not hours.is_open(now)
    language = reply_language.for_turn(turn)
    return HandoffOutcome(
        firings=firings,
        action=max((f.action for f in firings), key=STRENGTH.__getitem__),
        priority=priority,
        offline=offline,
        next_open=hours.next_open(now) if hours is not None and offline else None,
        handoff_message=messages.text(turn.workspace, "handoff.message", language),
        messages=HandoffTexts.for_language(turn.workspace, language),
        language=messages.normalise(language),
    )


def _check(
    rule: Any,
    turn: Turn,
    customer: Customer | None,
    text: str,
    compiled: _Compiled,
    state: dict[str, Any],
    now: datetime,
    vectors: np.ndarray | None,
) -> str | None:
    """The reason ``rule`` fires on this turn, or None."""
    u = turn.understanding
    counters = turn.context.counters
    if rule.type == "sentiment":
        if u.sentiment < rule.below:
            return f"negative sentiment ({u.sentiment:.2f} < {rule.below:.2f})"
    elif rule.type == "low_confidence":
        key = f"{STATE}.{rule.name}"  # per rule: two such rules must not double-count
        # An answer to a flow's question ("maria@example.com", "ficou pequena") is no intent
        # and is not "not understood": the flow takes it.
        answering = waiting_for(turn.context.data) is not None
        unsure = not answering and (u.intent is None or u.out_of_scope or u.confidence < rule.below)
        counters[key] = counters.get(key, 0) + 1 if unsure else 0
        fallbacks = counters.get("fallbacks", 0)
        if counters[key] >= rule.times or fallbacks >= rule.times:
            return f"not understood {max(counters[key], fallbacks)} times in a row"
    elif rule.type == "repeated_question":
        same = _same_questions(rule, text, state["questions"], vectors)
        if same + 1 >= rule.times:
            return f"the same question asked {same + 1} times"
    elif rule.type == "keywords":
        # On the message itself: hyphens count ("lawyer-style" is not "lawyer").
        hits = phrases.find_keywords(compiled.keywords[rule.name], turn.message.text, u.language)
        if hits:
            return f"sensitive topic: {', '.join(sorted(hits)[:5])}"
    elif rule.type == "segment":
        segment = (customer.segment or "") if customer else ""
        if segment.casefold() in {s.casefold() for s in rule.segments}:
            return f"customer segment {segment}"
    elif rule.type == "duration":
        age = now - turn.conversation.created_at
        if age >= timedelta(minutes=rule.minutes):
            return f"conversation longer than {rule.minutes:g} minutes"
    elif rule.type == "human_request":
        if u.intent == "human_agent" or (compiled.human and compiled.human.search(text)):
            return "customer asked for a person"
    elif rule.type == "humans_only":
        chosen = turn.conversation.metadata.get("humans_only") or (
            customer is not None and customer.metadata.get("humans_only")
        )
        if chosen:
            return "customer chose to talk to people only"
    return None


def _words(text: str) -> set[str]:
    return {w for w in text.split() if len(w) > 2}


def _same_questions(rule: Any, text: str, previous: list[str], vectors: np.ndarray | None) -> int:
    """How many of the remembered questions are the same as ``text``."""
    if not text or not previous:
        return 0
    if rule.method == "embedding":
        # Encoding here would run the model on the event loop, every turn, for up to eleven
        # texts: the caller encodes ``compared_texts`` with its batched, cached encoder.
        if vectors is None or len(vectors) != len(previous) + 1:
            raise ValueError("evaluate needs the vectors of compared_texts(turn)")
        scores = vectors[1:] @ vectors[0]
        return int((scores >= rule.similarity).sum())
    mine = _words(text) or {text}
    count = 0
    for old in previous:
        theirs = _words(old) or {old}
        if len(mine & theirs) / len(mine | theirs) >= rule.similarity:
            count += 1
    return count


def _remember_question(state: dict[str, Any], text: str, intent: str | None) -> None:
    if text and intent not in ("greeting", "human_agent"):
        state["questions"] = (state["questions"] + [text])[-MAX_QUESTIONS:]


# -- acting on an outcome --------------------------------------------------------------


def apply(
    outcome: HandoffOutcome, decision: Decision, metadata: dict[str, Any] | None = None
) -> Decision:
    """Fold the outcome into the assistant's decision (returned, changed in place):

    transfer        -> status waiting_for_agent + the handoff message; outside business
                       hours the contact form instead (``meta.form == "contact"``)
    offer_human     -> an offer button on the last reply
    raise_priority  -> nothing the customer sees
    Every firing becomes an ``escalation.fired`` event carrying its reason, and the
    conversation's metadata (``metadata``: as it is now) gets the reason and, when a rule
    asks for a higher one, the priority: the inbox shows both."""
    decision.metadata.update(metadata_changes(outcome, metadata or {}))
    for firing in outcome.firings:
        decision.events.append(
            ("escalation.fired", {**firing.as_dict(), "offline": outcome.offline})
        )
    texts = outcome.messages
    if outcome.action == "transfer":
        kept = [r for r in decision.replies if r.meta.get("step") != "fallback"]
        if outcome.offline:
            # "Connecting you with our team" would be untrue: nobody is there.
            kept = [r for r in kept if r.text != outcome.handoff_message]
            if not any(r.meta.get("form") == "contact" for r in kept):
                kept.append(Reply(texts.offline, meta={"step": "offline", "form": "contact"}))
            if decision.status is ConversationStatus.WAITING:
                decision.status = None  # nobody is there to wait for
        else:
            if decision.status is not ConversationStatus.WAITING:
                kept.append(Reply(outcome.handoff_message, meta={"step": "handoff"}))
            decision.status = ConversationStatus.WAITING
        decision.replies = kept
        decision.reason = outcome.reason
    elif outcome.action == "offer_human":
        if decision.status is not ConversationStatus.WAITING:
            last = decision.replies[-1] if decision.replies else None
            if last is None:
                decision.replies.append(Reply(texts.offer, quick_replies=[texts.offer_button]))
            elif texts.offer_button not in last.quick_replies:
                last.quick_replies = [*last.quick_replies, texts.offer_button]
        decision.reason = decision.reason or outcome.reason
    return decision


def metadata_changes(outcome: HandoffOutcome, metadata: dict[str, Any]) -> dict[str, Any]:
    """The conversation metadata an outcome sets: its reasons, and the priority when a rule
    asks for a higher one than ``metadata`` has."""
    changes: dict[str, Any] = {
        "escalation": {
            "reason": outcome.reason,
            "rules": [f.rule for f in outcome.firings],
            "action": outcome.action,
            "offline": outcome.offline,
            "at": utcnow().isoformat(),
        },
        # What later messages without a customer turn (the overflow form, the ticket
        # confirmation, agents' notices) are written in: ``messages.conversation_language``.
        "language": outcome.language,
    }
    current = metadata.get("priority") or "normal"
    if outcome.priority and (
        current not in PRIORITY_ORDER
        or PRIORITY_ORDER.index(outcome.priority) > PRIORITY_ORDER.index(current)
    ):
        changes["priority"] = outcome.priority
    return changes
