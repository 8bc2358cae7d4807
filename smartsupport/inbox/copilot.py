"""The copilot: what an agent taking over needs first, and replies to start from.

    summary     what happened (why a person is needed, what the assistant did: articles it
                answered from, flows it ran) and what the customer wants (their newest
                question, the intent understood, the order numbers they gave, their mood);
                extractive: every line is taken from the stored conversation
    drafts      replies the agent inserts into the composer, edits and sends; never sent
                by themselves:
                  article   an answer grounded in an article that answers the customer's
                            question (``inbox.suggestions``), through the assistant's answer
                            chain: the configured LLM steps (personal data redacted before
                            the prompt, every sentence checked against the passage:
                            ``answers.Answerer``) and else the extractive answer. Nothing
                            the article does not say.
                  flow      what the assistant's flows found in the business's systems (an
                            order's status, a refund), as the flow told the customer
    articles    the suggestions themselves (for the side panel)

Computed on request (``copilot_routes``), read-only; a conversation's copilot is kept per
process until its transcript changes (the newest message's seq), so re-opening it does not
run the answer chain again.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from smartsupport.assistant import Assistant
from smartsupport.domain import Author, Conversation, Message
from smartsupport.inbox.memory import REFERENCE
from smartsupport.inbox.suggestions import Found, for_conversation, language_for
from smartsupport.workspaces import WorkspaceConfig

DRAFTS_FROM_ARTICLES = 2
WANTS_CHARS = 300
CACHED = 256  # conversations whose copilot this process keeps
ANSWERED_BY = ("extractive", "llm:")  # answer-chain steps that answered from the article


@dataclass(slots=True)
class Draft:
    kind: str  # "article" | "flow"
    text: str
    source: str  # the article's title, or the flow's name
    url: str | None = None
    step: str = ""  # the answer-chain step that wrote it ("extractive", "llm:primary")

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "source": self.source,
            "url": self.url,
            "step": self.step,
        }


@dataclass(slots=True)
class Copilot:
    wants: str | None
    intent: str | None
    references: list[str]
    happened: list[str]
    mood: str | None
    drafts: list[Draft] = field(default_factory=list)
    articles: Found = field(default_factory=Found)

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": {
                "wants": self.wants,
                "intent": self.intent,
                "references": self.references,
                "happened": self.happened,
                "mood": self.mood,
            },
            "drafts": [d.as_json() for d in self.drafts],
            "articles": [s.as_json() for s in self.articles.suggestions],
        }


class CopilotCache:
    """Copilots by (conversation, newest seq): one LRU per process."""

    def __init__(self, size: int = CACHED) -> None:
        self.size = size
        self.kept: OrderedDict[tuple[str, int], Copilot] = OrderedDict()

    def get(self, key: tuple[str, int]) -> Copilot | None:
        found = self.kept.get(key)
        if found is not None:
            self.kept.move_to_end(key)
        return found

    def put(self, key: tuple[str, int], copilot: Copilot) -> None:
        self.kept[key] = copilot
        while len(self.kept) > self.size:
            self.kept.popitem(last=False)


async def copilot_for(
    assistant: Assistant,
    workspace: WorkspaceConfig,
    conversation: Conversation,
    messages: list[Message],
    reason: str | None,
    *,
    knowledge: Any | None = None,
) -> Copilot:
    """The summary, drafts and articles of one conversation (see the module docstring)."""
    articles = await for_conversation(
        assistant, workspace, conversation, messages, knowledge=knowledge
    )
    copilot = summarise(messages, reason, articles)
    copilot.articles = articles
    language = language_for(conversation, messages, workspace.default_locale)
    copilot.drafts = [
        *await article_drafts(assistant, workspace, articles, language),
        *flow_drafts(messages),
    ]
    return copilot


def summarise(messages: list[Message], reason: str | None, articles: Found) -> Copilot:
    """The extractive summary: each line is a stored fact of the conversation."""
    customer = [m for m in messages if m.author is Author.CUSTOMER and m.text.strip()]
    wants = articles.questions[0] if articles.questions else None
    asking = next((m for m in reversed(customer) if m.text.strip() == wants), None)
    nlu = (asking.meta.get("nlu") or {}) if asking else {}
    references = list(
        dict.fromkeys(r for m in customer for r in REFERENCE.findall(m.text))
    )  # in the order given
    happened = [f"Handed over: {reason}."] if reason else []
    answered = [m for m in messages if m.author is Author.BOT and m.meta.get("citations")]
    titles = list(dict.fromkeys(c.get("title") for m in answered for c in m.meta["citations"]))
    if titles:
        happened.append("The assistant answered from: " + ", ".join(t for t in titles if t) + ".")
    flows = list(dict.fromkeys(m.meta["flow"] for m in messages if m.meta.get("flow")))
    if flows:
        happened.append("Flows run: " + ", ".join(flows) + ".")
    happened.append(
        f"{len(customer)} message{'s' if len(customer) != 1 else ''} from the customer."
    )
    sentiment = nlu.get("sentiment") if nlu else None
    mood = None
    if isinstance(sentiment, int | float):
        mood = "negative" if sentiment < -0.25 else "positive" if sentiment > 0.25 else "neutral"
    short = " ".join((wants or "").split())
    return Copilot(
        wants=(short[:WANTS_CHARS] + ("…" if len(short) > WANTS_CHARS else "")) or None,
        intent=nlu.get("intent"),
        references=references,
        happened=happened,
        mood=mood,
    )


async def article_drafts(
    assistant: Assistant, workspace: WorkspaceConfig, articles: Found, language: str
) -> list[Draft]:
    """One grounded answer per suggested article (the best few), through the answer chain."""
    drafts: list[Draft] = []
    for suggestion in articles.suggestions[:DRAFTS_FROM_ARTICLES]:
        passage = suggestion.passage
        # The answer is built around the sentence that answers (as article_answers does).
        focused = dataclasses.replace(passage, score=suggestion.probability, focus=suggestion.focus)
        result = await assistant.answerer.answer(
            workspace, suggestion.question, [focused], language=language, handoff_available=False
        )
        if result.reply_text and result.step.startswith(ANSWERED_BY):
            drafts.append(
                Draft("article", result.reply_text, suggestion.title, suggestion.url, result.step)
            )
    return drafts


def flow_drafts(messages: list[Message]) -> list[Draft]:
    """The newest thing each flow found and told the customer (not a question it asked)."""
    found: dict[str, Draft] = {}
    for message in reversed(messages):
        meta = message.meta
        if message.author is not Author.BOT or meta.get("step") != "flow" or meta.get("slot"):
            continue  # a flow asking for a slot has found nothing yet
        flow = str(meta.get("flow") or "flow")
        if flow not in found and message.text.strip():
            found[flow] = Draft("flow", message.text.strip(), flow, step="flow")
    return list(found.values())
