"""One conversation's facts, as every KPI of docs/analytics.md sees them: pure functions of
the rows ``analytics.walk`` read (no I/O here), so the definitions can be read and tested
on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

HUMAN_STATUSES = ("waiting_for_agent", "with_agent")
# A turn the assistant could not answer: the keyword fallback, or the answer chain's
# "no answer" steps (a handoff offer or the offline form instead of an answer).
FALLBACK_STEPS = frozenset({"fallback", "none", "no_answer"})
NO_ANSWER_CHAIN_STEPS = frozenset({"handoff", "offline", "none"})
# Replies that are not answers to the question: handing over, the contact form, notices.
NOT_ANSWERS = frozenset({"handoff", "offline", "overflow", "greeting", "ticket"})
DISSATISFIED_CSAT = 2  # a 1 or 2 rating is negative feedback


@dataclass(slots=True)
class Turn:
    """One customer message and what the assistant did with it (for the per-turn charts)."""

    intent: str | None
    confidence: float
    out_of_scope: bool
    fallback: bool
    text: str
    message_id: str = ""


@dataclass(slots=True)
class Answer:
    """One bot answer that cited help articles, with its ratings."""

    message_id: str
    articles: list[tuple[str, str]]  # (article id, title)
    up: int = 0
    down: int = 0


@dataclass(slots=True)
class Facts:
    """One conversation, as every KPI sees it (also one row of the CSV export)."""

    conversation_id: str
    created_at: datetime
    channel: str
    language: str
    intent: str | None
    status: str
    customer_messages: int = 0
    answered_turns: int = 0
    fallback_turns: int = 0
    out_of_scope_turns: int = 0
    bot_answers: int = 0
    escalated: bool = False
    escalation_reason: str | None = None
    agent_replied: bool = False
    abandoned: bool = False
    thumbs_up: int = 0
    thumbs_down: int = 0
    agent_flags: int = 0
    csat: int | None = None
    recontacted: bool = False
    evaluated: bool = False  # the re-contact window has passed since the last message
    automated_resolution: bool | None = False  # None: pending until the window passes
    first_response_bot_s: float | None = None
    first_response_human_s: float | None = None
    resolution_s: float | None = None
    handle_s: float | None = None
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    llm_cost: float = 0.0
    last_at: datetime | None = None  # the last message: the re-contact window starts here
    turns: list[Turn] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    @property
    def engaged(self) -> bool:
        return self.customer_messages > 0

    @property
    def person_involved(self) -> bool:
        return self.escalated or self.agent_replied

    @property
    def negative_feedback(self) -> bool:
        return bool(
            self.thumbs_down
            or self.agent_flags
            or (self.csat is not None and self.csat <= DISSATISFIED_CSAT)
        )


Related = tuple[
    list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None, list[dict[str, Any]]
]


def related(
    ids: list[str],
    messages: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
    inbox: list[dict[str, Any]],
    ratings: list[dict[str, Any]],
) -> dict[str, Related]:
    """The rows of one page, grouped by conversation: (messages, status events, inbox row,
    answer ratings)."""
    grouped: dict[str, Related] = {i: ([], [], None, []) for i in ids}
    for m in messages:
        grouped[m["conversation_id"]][0].append(m)
    for e in statuses:
        grouped[e["conversation_id"]][1].append(e)
    for r in ratings:
        grouped[r["conversation_id"]][3].append(r)
    for row in inbox:
        msgs, events, _, rated = grouped[row["conversation_id"]]
        grouped[row["conversation_id"]] = (msgs, events, row, rated)
    return grouped


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, round((later - earlier).total_seconds(), 3))


def _nlu(message: dict[str, Any]) -> dict[str, Any]:
    return (message["meta"] or {}).get("nlu") or {}


def is_fallback(meta: dict[str, Any]) -> bool:
    """The reply says the assistant had no answer."""
    return meta.get("step") in FALLBACK_STEPS or meta.get("answer_step") in NO_ANSWER_CHAIN_STEPS


def is_answer(meta: dict[str, Any]) -> bool:
    """The reply answers the question (not a fallback, a handoff, the contact form...)."""
    return not is_fallback(meta) and meta.get("step") not in NOT_ANSWERS


def conversation_facts(
    row: dict[str, Any],
    messages: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
    inbox: dict[str, Any] | None,
    ratings: list[dict[str, Any]],
    *,
    now: datetime,
) -> Facts:
    """Everything but re-contact (which needs the customer's other conversations: it is
    set afterwards by ``settle``)."""
    metadata = row["metadata"] or {}
    customer = [m for m in messages if m["author"] == "customer"]
    first_nlu = ((customer[0]["meta"] or {}).get("nlu") or {}) if customer else {}
    intent = next(
        (n["intent"] for m in customer if (n := _nlu(m)).get("intent")),
        None,
    )
    usage = metadata.get("llm_usage") or {}
    facts = Facts(
        conversation_id=row["id"],
        created_at=row["created_at"],
        channel=row["channel"],
        language=first_nlu.get("language") or metadata.get("locale") or "",
        intent=intent,
        status=row["status"],
        customer_messages=len(customer),
        llm_input_tokens=int(usage.get("input_tokens", 0)),
        llm_output_tokens=int(usage.get("output_tokens", 0)),
        llm_cost=float(usage.get("cost", 0.0)),
    )
    _turns(facts, messages)
    _people(facts, messages, statuses, inbox)
    _ratings(facts, ratings, inbox)
    if customer:
        first_reply = next((m for m in messages if m["reply_to"] == customer[0]["id"]), None)
        facts.first_response_bot_s = _seconds(
            first_reply["created_at"] if first_reply else None, customer[0]["created_at"]
        )
    facts.last_at = messages[-1]["created_at"] if messages else row["created_at"]
    return facts


def _turns(facts: Facts, messages: list[dict[str, Any]]) -> None:
    replies: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        if m["author"] == "bot" and m["reply_to"]:
            replies.setdefault(m["reply_to"], []).append(m)
    for m in messages:
        if m["author"] != "customer":
            continue
        nlu = _nlu(m)
        got = replies.get(m["id"], [])
        last = (got[-1]["meta"] or {}) if got else {}
        fallback = bool(got) and is_fallback(last)
        facts.turns.append(
            Turn(
                nlu.get("intent"),
                float(nlu.get("confidence") or 0.0),
                bool(nlu.get("out_of_scope")),
                fallback,
                m["text"],
                m["id"],
            )
        )
        facts.fallback_turns += fallback
        facts.out_of_scope_turns += bool(nlu.get("out_of_scope"))
        facts.answered_turns += bool(got) and is_answer(last)
        for reply in got:
            meta = reply["meta"] or {}
            if not is_answer(meta):
                continue
            facts.bot_answers += 1
            cited = [
                (c["article_id"], c.get("title") or "")
                for c in meta.get("citations") or []
                if isinstance(c, dict) and c.get("article_id")
            ]
            if cited:
                facts.answers.append(Answer(reply["id"], list(dict.fromkeys(cited))))


def _people(
    facts: Facts,
    messages: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
    inbox: dict[str, Any] | None,
) -> None:
    handed = [e for e in statuses if (e["data"] or {}).get("status") in HUMAN_STATUSES]
    agent = [m for m in messages if m["author"] == "agent"]
    facts.escalated = bool(handed)
    facts.agent_replied = bool(agent)
    if handed:
        facts.escalation_reason = (handed[0]["data"] or {}).get("reason") or "unspecified"
        after = [m for m in agent if m["created_at"] >= handed[0]["created_at"]]
        facts.first_response_human_s = _seconds(
            after[0]["created_at"] if after else None, handed[0]["created_at"]
        )
        facts.abandoned = not agent
    if inbox is not None:
        facts.handle_s = _seconds(inbox["resolved_at"], inbox["assigned_at"])
        facts.resolution_s = _seconds(inbox["resolved_at"], facts.created_at)


def _ratings(facts: Facts, ratings: list[dict[str, Any]], inbox: dict[str, Any] | None) -> None:
    by_message = {a.message_id: a for a in facts.answers}
    for r in ratings:
        if r["source"] == "agent":
            facts.agent_flags += 1
            continue
        if r["rating"] > 0:
            facts.thumbs_up += 1
        else:
            facts.thumbs_down += 1
        answer = by_message.get(r["message_id"])
        if answer is not None:
            answer.up += r["rating"] > 0
            answer.down += r["rating"] < 0
    facts.csat = inbox["csat_rating"] if inbox is not None else None


def resolvable(facts: Facts) -> bool:
    """Conditions 1-3 of an automated resolution (docs/analytics.md): engaged, no person
    involved, answered (the last turn too), no negative feedback. Re-contact (4) needs the
    customer's other conversations; the rollup stores this and reads re-contact at report
    time."""
    last_turn_answered = bool(facts.turns) and not facts.turns[-1].fallback
    return (
        facts.engaged
        and not facts.person_involved
        and facts.answered_turns > 0
        and last_turn_answered
        and not facts.negative_feedback
    )


def settle(facts: Facts, recontacted: bool, window: timedelta, now: datetime) -> None:
    """Re-contact known: decide the automated resolution (docs/analytics.md).

    Engaged, no person involved, at least one answer and the last turn answered, no
    negative feedback, no re-contact on the same topic within the window. Until the window
    has passed since the last message, a conversation that passes so far is pending (None)."""
    facts.recontacted = recontacted
    last_at = facts.last_at or facts.created_at
    facts.evaluated = now >= last_at + window
    passes = resolvable(facts) and not recontacted
    facts.automated_resolution = passes if (facts.evaluated or not passes) else None
    if facts.automated_resolution and facts.resolution_s is None:
        facts.resolution_s = _seconds(last_at, facts.created_at)
