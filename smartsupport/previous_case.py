"""Continuing a previous case (issue 16, item 1): when a verified customer who comes back
refers to an earlier conversation ("any news on my refund?", "still waiting about the jacket
I returned", "following up on my last chat"), the reply names that conversation's order (or
question) and where it was left (answered, taken over by our team, a helpdesk ticket and its
status) instead of starting from scratch.

    case = await load(store, turn)                  reads, before deciding; None for most turns
    decision = continue_case(turn, case, decision)  pure: the case's reply joins the decision
    facts = await remembered(store, turn)           a flow's ``remembered`` (customer_memory),
                                                    the case's order first

``load`` reads nothing unless the conversation carries a signed identity naming its own
customer record (``customer_memory.verified_customer``) and the message refers back
(``refers_back``: phrases in the nine languages of the message catalog). Then the customer's
own memories (``customer_memories``, inbox/memory.py: same customer, same workspace) are
ranked: one whose conversation named an order number the message names, else the most
similar by the packaged encoder (the memory's vector against the message's), the newer on a
tie. The chosen conversation's state is read from its metadata and messages:

    ticket     a helpdesk ticket still open (``metadata.ticket``, helpdesk/ticket_status.py)
    team       handed over (``metadata.escalation``) or answered by an agent
    answered   answered by the assistant

``continue_case`` puts one reply first ("Last time (2026-11-28) you asked us about order
ORD-10239; our team took it over and wrote: “…”", ``case.*`` in locales/): before what the
decision says (a flow's question or look-up, an article's answer, an offer of a person),
or instead of a decision that had nothing to say (the fallback), then asking what they want
to know now. The memory reaches the reply only as the product's own texts and the earlier
conversation's messages, never an LLM prompt. The reply's meta names the case (``step:
previous_case``), so analytics and the inbox can tell, and the customer's message keeps
which case it continued (``meta.previous_case``: the conversation, its order, its state), as
it keeps its reply language: that is how a flow starting on the same turn proposes the case's
order (``remembered``) rather than the newest one remembered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from smartsupport import customer_memory, messages, reply_language
from smartsupport.customer_memory import REFERENCE, verified_customer
from smartsupport.domain import Author, Reply
from smartsupport.embeddings import get_embedder
from smartsupport.storage.base import SqlDatabase, Store
from smartsupport.turn import Decision, Turn

META_KEY = "previous_case"  # on the customer's message: the case it continued
KEPT = 20  # the newest memories compared
QUOTED_CHARS = 160  # of the earlier answer, in the reply
QUESTION_CHARS = 80  # of the earlier question, when no order was named
NO_ANSWER = frozenset({"fallback", "none"})  # decision steps that had nothing to say
CLOSED_TICKETS = ("solved", "closed")  # as helpdesk/ticket_status.CLOSING

# A message that refers to an earlier conversation, in the catalog's nine languages. Phrases,
# not words: "news" or "still" alone are too common to mean "about last time" (except in
# German, "Neuigkeiten", and Chinese and Japanese, whose phrases are short).
PHRASES = {
    "en": (r"\bany (?:news|update|progress)\b", r"\bupdate on\b", r"\bstill waiting\b",
           r"\bstill (?:haven't|have not|no)\b", r"\bfollow(?:ing)?[ -]up\b",
           r"\b(?:last|previous|earlier) (?:chat|conversation|time|message|case)\b",
           r"\bI (?:wrote|contacted|messaged|chatted|spoke)\b", r"\bmy (?:case|ticket)\b"),
    "es": (r"\balguna novedad\b", r"\bnovedades\b", r"\bsigo esperando\b",
           r"\btodav[ií]a no\b", r"\bla [uú]ltima vez\b", r"\bconversaci[oó]n anterior\b",
           r"\bmi (?:caso|ticket)\b", r"\bles escrib[ií]\b"),
    "fr": (r"\bdu nouveau\b", r"\bdes nouvelles\b", r"\btoujours (?:pas|en attente)\b",
           r"\bj'attends toujours\b", r"\bla derni[eè]re fois\b", r"\bmon dossier\b",
           r"\bconversation pr[ée]c[ée]dente\b", r"\bje vous ai (?:[ée]crit|contact[ée])\b"),
    "de": (r"\bneuigkeiten\b", r"\bwarte (?:immer )?noch\b", r"\bimmer noch\b",
           r"\bletzte[nsm]? (?:mal|gespr[äa]ch|chat|nachricht)\b",
           r"\bmein(?:em)? (?:fall|ticket)\b", r"\bnachfrage\b",
           r"\bhatte (?:ihnen |euch )?(?:geschrieben|schon)\b"),
    "it": (r"\bnovit[àa]\b", r"\baspetto ancora\b", r"\bsto ancora aspettando\b",
           r"\bl'ultima volta\b", r"\bconversazione precedente\b", r"\bla mia pratica\b",
           r"\bvi ho (?:scritto|contattato)\b"),
    "pt": (r"\balguma novidade\b", r"\bnovidades\b",
           r"\bainda (?:estou )?(?:[àa] espera|esperando|aguardando)\b",
           r"\bda [uú]ltima vez\b", r"\bconversa anterior\b", r"\bmeu (?:caso|ticket)\b"),
    "zh": (r"有(?:什么|什麼)?(?:进展|進展|消息|新消息)", r"还在等|還在等",
           r"还没(?:有)?收到|還沒(?:有)?收到", r"上次", r"之前(?:的)?(?:对话|咨询|聊天)", r"跟进"),
    "ja": (r"進展", r"まだ(?:届|待|返)", r"前回", r"その後",
           r"先日(?:の)?(?:問い合わせ|お問い合わせ|チャット)"),
    "ar": (r"أي جديد", r"هل من جديد", r"(?:ما|لا) زلت (?:أنتظر|بانتظار)",
           r"المرة (?:السابقة|الماضية)", r"المحادثة (?:السابقة|الأخيرة)", r"متابعة"),
}  # fmt: skip
_PATTERNS = [p for ps in PHRASES.values() for p in ps]
# One leading word boundary for the phrases that start with one, not one per phrase: the
# engine then tries them only where a word starts (a quarter of the time).
FOLLOW_UP = re.compile(
    r"\b(?:"
    + "|".join(p.removeprefix(r"\b") for p in _PATTERNS if p.startswith(r"\b"))
    + ")|"
    + "|".join(p for p in _PATTERNS if not p.startswith(r"\b")),
    re.IGNORECASE,
)


@dataclass(slots=True)
class Case:
    """An earlier conversation of the same verified customer, and where it was left."""

    conversation_id: str
    ended: datetime
    state: str  # "ticket", "team" or "answered"
    reference: str | None  # the order number (or similar) it was about, if one was named
    question: str  # the customer's first message
    answer: str  # the last answer they were given
    score: float  # similarity of the memory to this message (1.0: the order was named)
    ticket: dict[str, Any] | None = None


def refers_back(text: str) -> bool:
    """Whether the message refers to an earlier conversation (``FOLLOW_UP``)."""
    return FOLLOW_UP.search(text) is not None


async def load(
    store: Store,
    turn: Turn,
    vectors: Callable[[list[str]], Awaitable[np.ndarray]] | None = None,
) -> Case | None:
    """The earlier case ``turn``'s message refers to (module docstring), or None.
    ``vectors``: the assistant's batched encoder (encoding.py); else the model, in a thread."""
    if not refers_back(turn.message.text):
        return None
    customer = await verified_customer(store, turn.conversation)
    if customer is None:
        return None
    if not isinstance(store, SqlDatabase):
        raise TypeError("customer memory needs an SQL store (SQLite or PostgreSQL)")
    rows = await customer_memory.newest_memories(
        store, customer.id, turn.conversation, "k.vector", KEPT
    )
    if not rows:
        return None
    said = await _said(store, [r["conversation_id"] for r in rows])
    named = {r.replace("-", "") for r in REFERENCE.findall(turn.message.text)}
    texts = [turn.message.text]
    if vectors is not None:
        query = (await vectors(texts))[0]
    else:
        query = (await asyncio.to_thread(get_embedder().encode, texts))[0]
    scored = []
    for age, row in enumerate(rows):  # newest first
        refs = {r.replace("-", "") for r in _references(said.get(row["conversation_id"], []))}
        vector = row["vector"] or []
        similar = float(np.dot(np.asarray(vector, dtype=np.float32), query)) if vector else 0.0
        scored.append((1.0 if named & refs else similar, -age, row))
    score, _, best = max(scored, key=lambda s: (s[0], s[1]))
    earlier = await store.get_conversation(best["conversation_id"])
    if earlier is None:
        return None  # erased meanwhile
    case = _case(best["conversation_id"], best["updated_at"], earlier.metadata,
                 said.get(best["conversation_id"], []), score)  # fmt: skip
    turn.message.meta[META_KEY] = {
        "conversation_id": case.conversation_id,
        "reference": case.reference,
        "state": case.state,
    }
    return case


async def remembered(store: Store, turn: Turn) -> dict[str, Any] | None:
    """``customer_memory.remembered`` for a flow starting on ``turn``, with the order of the
    earlier case its message continues (``load``, noted on the message) first."""
    facts = await customer_memory.remembered(store, turn.conversation)
    noted = turn.message.meta.get(META_KEY) or {}
    first = noted.get("reference")
    if facts is not None and first in facts["references"]:
        facts["references"] = [first, *(r for r in facts["references"] if r != first)]
    return facts


def continue_case(turn: Turn, case: Case | None, decision: Decision) -> Decision:
    """``decision`` with the case's reply first, or instead of replies that had nothing to
    say (``NO_ANSWER``); unchanged without a case. Pure: reads the turn, writes nothing."""
    if case is None:
        return decision
    language = reply_language.for_turn(turn)
    workspace = turn.workspace
    topic = (
        messages.text(workspace, "case.order", language, reference=case.reference)
        if case.reference
        else f"“{_short(case.question, QUESTION_CHARS)}”"
    )
    ticket = case.ticket or {}
    text = messages.text(
        workspace, f"case.{case.state}", language,
        day=case.ended.date().isoformat(), topic=topic,
        answer=_short(case.answer, QUOTED_CHARS),
        ticket=ticket.get("id") or "", status=ticket.get("status") or "",
    )  # fmt: skip
    answered = [r for r in decision.replies if r.meta.get("step") not in NO_ANSWER]
    if not answered:
        text += " " + messages.text(workspace, "case.next", language)
    meta = {
        "step": "previous_case",
        "case": {
            "conversation_id": case.conversation_id,
            "state": case.state,
            "score": round(case.score, 3),
        },
    }
    decision.replies = [Reply(text, meta=meta), *answered]
    return decision


async def _said(store: SqlDatabase, conversation_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The messages of the memories' conversations, oldest first, text opened."""
    marks = ", ".join("?" for _ in conversation_ids)
    found = await store.fetch(
        f"SELECT id, conversation_id, author, text, meta FROM messages "
        f"WHERE conversation_id IN ({marks}) ORDER BY conversation_id, seq",
        *conversation_ids,
    )
    by_conversation: dict[str, list[dict[str, Any]]] = {}
    for m in found:
        text = store.fields.open("messages", "text", m["id"], m["text"]) or ""
        by_conversation.setdefault(m["conversation_id"], []).append({**m, "text": text})
    return by_conversation


def _references(said: list[dict[str, Any]]) -> list[str]:
    """The references named in a conversation, first named first; a flow's question names
    an example ("It looks like ORD-10234"), not their case (as customer_memory.remembered)."""
    found: list[str] = []
    for m in said:
        asked = m["author"] != Author.CUSTOMER.value and (m["meta"] or {}).get("slot")
        for ref in [] if asked else REFERENCE.findall(m["text"]):
            if ref not in found:
                found.append(ref)
    return found


def _case(
    conversation_id: str,
    ended: datetime,
    metadata: dict[str, Any],
    said: list[dict[str, Any]],
    score: float,
) -> Case:
    asked = [m["text"] for m in said if m["author"] == Author.CUSTOMER.value and m["text"]]
    answers = [m for m in said if m["author"] in (Author.AGENT.value, Author.BOT.value)]
    answers = [m for m in answers if m["text"].strip()]
    ticket = metadata.get("ticket") if isinstance(metadata.get("ticket"), dict) else None
    team = [m for m in answers if m["author"] == Author.AGENT.value]
    by_team = bool(metadata.get("escalation")) or bool(team)
    answers = team or answers  # what a person wrote, when one took it over
    if ticket and ticket.get("id") and ticket.get("status") not in CLOSED_TICKETS:
        state = "ticket"
    elif by_team:
        state = "team"
    else:
        state = "answered"
    refs = _references(said)
    return Case(
        conversation_id,
        ended,
        state,
        refs[0] if refs else None,
        asked[0] if asked else "",
        answers[-1]["text"] if answers else "",
        score,
        ticket,
    )


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"
