"""Help articles for the agent's side panel: the ones that answer what the customer asked.

The panel used to search the customer's *last* message and show the three best articles
whatever their score. After a handoff the last message is most often the request for a
person ("can I talk to someone?"), so the panel showed the contact page or whatever ranked
first for those words: articles that looked relevant to the search and not to the case.
Now:

    questions   the customer's messages that ask something: the newest first, skipping the
                ones the assistant understood as small talk or a request for a person
                (``decisions.conversational_intents``), each split into its questions
    retrieve    passages in the customer's language, else the workspace's default
                language (``ArticleAnswers.retrieve``: never a third)
    keep        only articles whose best passage *answers* the question
                (``knowledge.answerability``) above ``SUGGEST_THRESHOLD``; one entry per
                article, with the sentence that answers as its excerpt

An empty list is an honest "no article answers this", not the best of a bad lot. The hit
rate before and after is measured by ``bench/inbox_suggestions.py`` (docs/benchmarks.md,
"Inbox article suggestions").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from smartsupport.article_answers import ArticleAnswers
from smartsupport.assistant import Assistant
from smartsupport.decisions import conversational_intents
from smartsupport.domain import Author, Conversation, Message, Passage
from smartsupport.knowledge.answerability import Answerability
from smartsupport.knowledge.documents import language_of
from smartsupport.nlu.asking import questions_in
from smartsupport.workspaces import WorkspaceConfig

# Lower than the answer threshold (0.80, chosen for what the bot says on its own): an agent
# reads the suggestion before using it. Chosen on bench/inbox_suggestions.py.
SUGGEST_THRESHOLD = 0.5
QUESTIONS = 3  # customer messages looked at, newest first
WORD = re.compile(r"\w+")
SHOWN = 3
SEARCHED = 30  # passages searched per question (as article_answers does)
EXCERPT_CHARS = 400


@dataclass(slots=True)
class Suggestion:
    article_id: str
    title: str
    url: str | None
    text: str  # the passage, cut to EXCERPT_CHARS
    focus: str  # the sentence that answers
    question: str
    probability: float
    passage: Passage

    def as_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "text": self.text,
            "url": self.url,
            "score": round(self.probability, 3),
            "focus": self.focus,
            "question": self.question,
        }


@dataclass(slots=True)
class Found:
    questions: list[str] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)


def asked(messages: list[Message], workspace: WorkspaceConfig) -> list[str]:
    """What the customer asked, newest first: their messages minus small talk and requests
    for a person, each split into its questions."""
    skip = conversational_intents(workspace)
    found: list[str] = []
    messages_seen = 0
    for message in reversed(messages):
        if message.author is not Author.CUSTOMER or not message.text.strip():
            continue
        intent = (message.meta.get("nlu") or {}).get("intent")
        if intent in skip:
            continue
        text = message.text.strip()
        # The whole message, then each of its questions: a split alone loses what the
        # customer said around the question ("my card keeps getting declined ... what am I
        # doing wrong??" would leave "what am I doing wrong?"); parts only when there are
        # several real questions.
        parts = [p for p in questions_in(text) if p != text and len(WORD.findall(p)) >= 2]
        found.extend([text, *(parts if len(parts) > 1 else [])])
        messages_seen += 1
        if messages_seen >= QUESTIONS:
            break
    return found


def language_for(conversation: Conversation, messages: list[Message], default: str) -> str:
    """The customer's language: the widget's locale, else what the NLU heard last."""
    heard = [
        (m.meta.get("nlu") or {}).get("language") for m in messages if m.author is Author.CUSTOMER
    ]
    spoken = next((h for h in reversed(heard) if h), None)
    return language_of(str(conversation.metadata.get("locale") or spoken or default))


async def for_conversation(
    assistant: Assistant,
    workspace: WorkspaceConfig,
    conversation: Conversation,
    messages: list[Message],
    *,
    knowledge: Any | None = None,
    threshold: float = SUGGEST_THRESHOLD,
) -> Found:
    """The articles that answer what the customer asked in ``conversation``, from the
    assistant's knowledge base (or ``knowledge``, anything with its ``search``/``idf``)."""
    articles = assistant.articles
    if knowledge is not None and knowledge is not assistant.knowledge:
        articles = ArticleAnswers(knowledge, articles.answerability, articles.answerer)
    language = language_for(conversation, messages, workspace.default_locale)

    async def retrieve(question: str) -> list[Passage]:
        found, _ = await articles.retrieve(
            workspace.id, question, language, workspace.default_locale
        )
        return found

    async def idf() -> Callable[[str], float]:
        return await articles.knowledge.idf(workspace.id)  # type: ignore[no-any-return]

    return await suggest(
        workspace, messages, retrieve, articles.answerability, idf, threshold=threshold
    )


async def suggest(
    workspace: WorkspaceConfig,
    messages: list[Message],
    retrieve: Callable[[str], Awaitable[list[Passage]]],
    answerability: Answerability,
    idf: Callable[[], Awaitable[Callable[[str], float]]],
    *,
    threshold: float = SUGGEST_THRESHOLD,
) -> Found:
    """The articles that answer the customer's questions, best first (see module doc)."""
    found = Found(asked(messages, workspace))
    best: dict[str, Suggestion] = {}
    weights: Callable[[str], float] | None = None
    for question in found.questions:
        passages = await retrieve(question)
        if not passages:
            continue
        weights = weights or await idf()
        for candidate in answerability.rank(question, passages, weights):
            if candidate.probability < threshold:
                break  # ranked best first
            passage = passages[candidate.unit.passage]
            held = best.get(passage.article_id)
            if held is None or candidate.probability > held.probability:
                best[passage.article_id] = Suggestion(
                    passage.article_id,
                    passage.title,
                    passage.url,
                    passage.text[:EXCERPT_CHARS],
                    candidate.unit.text,
                    question,
                    candidate.probability,
                    passage,
                )
    found.suggestions = sorted(best.values(), key=lambda s: -s.probability)[:SHOWN]
    return found
