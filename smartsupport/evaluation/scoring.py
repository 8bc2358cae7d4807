"""One conversation's outcome, decided from what the product stored (docs/evaluation.md).

In this order, the first that applies:

    escalated           the conversation reached people: its status became waiting_for_agent
                        (or with_agent) after a turn, or a reply is the offline contact form
    wrong               a bot reply states one of the conversation's ``wrong`` strings
    resolved            a resolvable conversation whose final replies (after the last
                        customer turn) contain every fact group, citing an expected article
                        (or a translation of it: ``refunds.es`` is ``refunds``) when they
                        cite one
    refused_clarified   a final reply is a non-answer (the answer chain's "I couldn't find
                        the answer", step handoff / offline; the fallback; a flow asking for a
                        slot or a confirmation; a question back to the customer) and none is
                        an answer (a citation, or an extractive / LLM / FAQ / shop / intent
                        response step)
    off_target          anything else: the bot answered, but not with the facts

Text is compared after ``normalise``: Unicode NFKC, case-folded, accents and other combining
marks removed, Arabic-Indic digits as 0-9, dashes, tildes and wave dashes as "-", runs of
spaces as one. Facts and wrong strings are normalised the same way.

Pure: no I/O. The language of the last reply comes from the package's own detector
(``nlu.language``, the bundled fastText model).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smartsupport.evaluation.suite import Case
from smartsupport.nlu.language import detect_language

OUTCOMES = ("resolved", "escalated", "refused_clarified", "off_target", "wrong", "error")
ESCALATED_STATUSES = {"waiting_for_agent", "with_agent"}
# Steps whose reply says "I don't have the answer" (answers.py, keywords.py, handoff/).
NO_ANSWER_STEPS = {"fallback", "handoff", "offline", "no_answer", "overflow", "ticket"}
QUESTION_MARKS = ("?", "？", "؟")  # ASCII, full-width, Arabic
SMALL_TALK = {"greeting", "thanks", "goodbye"}
# Steps whose reply is an answer (assistant.py, answers.py, keywords.py).
ANSWER_STEPS = {"extractive", "faq", "shop", "intent_response"}
_QUOTED = re.compile(r'«[^»]*»|“[^”]*”|„[^“”]*[“”]|"[^"]*"|「[^」]*」|『[^』]*』')

_DIGITS = str.maketrans(
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹",  # Arabic-Indic and Eastern Arabic-Indic digits
    "01234567890123456789",
)
_DASHES = re.compile(r"\s*[-‐‑‒–—―~〜∼−]\s*")  # every dash, tilde and wave dash
_SPACES = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+")


def normalise(text: str) -> str:
    """The form replies, facts and wrong strings are compared in."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_DIGITS)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = unicodedata.normalize("NFC", text)
    return _SPACES.sub(" ", _DASHES.sub("-", text)).strip()


@dataclass(frozen=True, slots=True)
class BotReply:
    """One stored bot message: its text, its meta and the articles it cites (file stems)."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    cited: tuple[str, ...] = ()

    @property
    def step(self) -> str | None:
        step = self.meta.get("step")
        return str(step) if step is not None else None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One customer turn, the bot's replies to it and the conversation status afterwards."""

    customer: str
    replies: tuple[BotReply, ...]
    status: str
    intent: str | None = None
    ms: float | None = None  # the turn's duration, from its ``turn`` event


@dataclass(frozen=True, slots=True)
class Transcript:
    exchanges: tuple[Exchange, ...]
    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    last_reply: str = ""  # the text of the conversation's last bot message


@dataclass(frozen=True, slots=True)
class Score:
    outcome: str
    reason: str
    reply_language: str  # detected language of the last bot reply ("" when unsure)
    in_language: bool
    offered_person: bool  # a handoff offer or "talk to a person" was made (not a transfer)


def score(case: Case, transcript: Transcript) -> Score:
    """The outcome of one conversation (the order of the checks is the definition)."""
    outcome, reason = _outcome(case, transcript)
    language = reply_language(transcript.last_reply)
    return Score(
        outcome=outcome,
        reason=reason,
        reply_language=language,
        in_language=language == case.language,
        offered_person=_offered_person(transcript),
    )


def _outcome(case: Case, transcript: Transcript) -> tuple[str, str]:
    escalation = escalated(transcript)
    if escalation:
        return "escalated", escalation
    replies = [r for e in transcript.exchanges for r in e.replies]
    stated = wrong_statements(case.expect.wrong, replies)
    if stated:
        return "wrong", "states " + ", ".join(repr(s) for s in stated)
    final = list(transcript.exchanges[-1].replies) if transcript.exchanges else []
    if case.category == "resolvable":
        missing = missing_facts(case.expect.facts, final)
        cited = sorted({stem for r in final for stem in r.cited})
        expected = {article_base(a) for a in case.expect.article}
        if not missing and (not cited or not expected or expected & _bases(cited)):
            return "resolved", "final replies contain every fact" + (
                f", citing {', '.join(cited)}" if cited else ""
            )
    if any(is_non_answer(r) for r in final) and not any(is_answer(r) for r in final):
        steps = ", ".join(sorted({r.step or "question" for r in final}))
        return "refused_clarified", f"no answer given ({steps}): {_excerpt(final)}"
    if not final:
        return "refused_clarified", "no reply to the last turn"
    return "off_target", f"{_off_target_reason(case, final)}: {_excerpt(final)}"


def article_base(stem: str) -> str:
    """The article a file stem belongs to: a translation (``refunds.es``) is its article."""
    return stem.split(".", 1)[0]


def _bases(stems: Sequence[str]) -> set[str]:
    return {article_base(s) for s in stems}


def escalated(transcript: Transcript) -> str:
    """Why the conversation counts as escalated, or "" when it does not."""
    for number, exchange in enumerate(transcript.exchanges, 1):
        if exchange.status in ESCALATED_STATUSES:
            return f"status {exchange.status} after turn {number}"
        if any(r.meta.get("form") == "contact" for r in exchange.replies):
            return f"contact form offered after turn {number}"
    return ""


def wrong_statements(wrong: Sequence[str], replies: Sequence[BotReply]) -> list[str]:
    """The ``wrong`` strings some reply states."""
    said = "\n".join(normalise(r.text) for r in replies)
    return [w for w in wrong if normalise(w) in said]


def missing_facts(facts: Sequence[Sequence[str]], replies: Sequence[BotReply]) -> list[list[str]]:
    """The fact groups none of whose alternatives appear in ``replies``."""
    said = "\n".join(normalise(r.text) for r in replies)
    return [list(group) for group in facts if not any(normalise(a) in said for a in group)]


def is_answer(reply: BotReply) -> bool:
    """A reply that answers from knowledge or configuration: it cites an article, or an
    answer step wrote it (the extractive or an LLM step, the FAQ keywords, the demo shop, an
    intent's configured response other than small talk)."""
    if reply.cited or reply.meta.get("citations"):
        return True
    if reply.step in ANSWER_STEPS or (reply.step or "").startswith("llm:"):
        return reply.meta.get("intent") not in SMALL_TALK
    return False


def is_non_answer(reply: BotReply) -> bool:
    """A reply that gives no answer: "I couldn't find it", the fallback, a slot question,
    or any other question back to the customer that cites nothing. Small talk (a greeting
    in reply to a question) is an answer to something else, not a clarifying question."""
    if reply.cited or reply.meta.get("citations"):
        return False
    if reply.step in NO_ANSWER_STEPS or reply.meta.get("answer_reason") == "no_answer":
        return True
    if reply.meta.get("slot"):
        return True
    if reply.step == "greeting" or reply.meta.get("intent") in SMALL_TALK:
        return False
    unquoted = _QUOTED.sub(" ", reply.text)  # «¿Olvidaste tu contraseña?» is a label
    return any(mark in unquoted for mark in QUESTION_MARKS)


def reply_language(text: str) -> str:
    """The language of a reply, links left out (a URL is no language); "" when unsure."""
    return detect_language(_URL.sub(" ", text), default="").language


def _offered_person(transcript: Transcript) -> bool:
    for kind, data in transcript.events:
        if kind == "escalation.fired" and data.get("action") == "offer_human":
            return True
    return any(
        r.meta.get("answer_reason") == "no_answer" or r.step == "handoff"
        for e in transcript.exchanges
        for r in e.replies
    )


def _off_target_reason(case: Case, final: Sequence[BotReply]) -> str:
    steps = ", ".join(sorted({r.step or "none" for r in final}))
    cited = sorted({stem for r in final for stem in r.cited})
    where = f"step {steps}" + (f", citing {', '.join(cited)}" if cited else "")
    if case.category == "must_escalate":
        return f"answered instead of escalating ({where})"
    if case.category == "unanswerable":
        return f"answered a question the articles cannot answer ({where})"
    missing = missing_facts(case.expect.facts, final)
    if missing:
        return f"lacks {' / '.join(g[0] for g in missing)} ({where})"
    return f"cites {', '.join(cited)}, expected {', '.join(case.expect.article)} ({where})"


def _excerpt(replies: Sequence[BotReply], size: int = 70) -> str:
    text = " ".join(" ".join(r.text.split()) for r in replies)
    return repr(text if len(text) <= size else text[: size - 1] + "…")
