"""Answers from the help articles, or an honest "not in our articles".

    retrieve      passages in the customer's language; when there are none, in the
                  workspace's default language (and the reply says so); never a third
    keep          only passages that answer the question (knowledge.answerability), each
                  with the sentence to build the answer around
    answer        the answer chain (answers.py: LLM steps when configured, else
                  extractive) over the kept passages, citing one article
    several       a message with several questions gets each answered in order

Nothing is said when no passage answers: the next step of the decision order (an authored
intent response, the keyword bot, or finally "I don't know" and a person) takes the turn.
"""

from __future__ import annotations

import dataclasses

from smartsupport import messages
from smartsupport.answers import Answerer, AnswerResult
from smartsupport.decisions import offer_person
from smartsupport.domain import Passage, Reply
from smartsupport.knowledge import slots
from smartsupport.knowledge.answer_types import answer_types
from smartsupport.knowledge.answerability import Answerability, Candidate
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.knowledge.places import place_match, places_in
from smartsupport.knowledge.units import asked_part, told_part
from smartsupport.llm.chain import accumulate
from smartsupport.nlu.asking import asked_in
from smartsupport.turn import Decision, Turn

# What a turn's steps retrieved, by (question, language): the knowledge step searches, and an
# authored response is then scored among the same passages without a second search.
Retrieved = dict[tuple[str, str], tuple[list[Passage], str]]

# Quotation marks by language, as CLDR gives them (Babel does not expose them).
_QUOTES = {"fr": ("« ", " »"), "de": ("„", "“"), "zh": ("“", "”"), "ja": ("「", "」"),
           "ar": ("”", "“"), "it": ("«", "»"), "es": ("«", "»"), "pt": ("«", "»")}  # fmt: skip
TOP_PASSAGES = 8
SEARCHED = 30  # passages looked at to find TOP_PASSAGES from several articles
PER_ARTICLE = 3
# passages naming the place asked about (or listing the ways to pay), kept beyond TOP_PASSAGES
PLACE_PASSAGES = 2


class ArticleAnswers:
    def __init__(
        self, knowledge: KnowledgeBase, answerability: Answerability, answerer: Answerer
    ) -> None:
        self.knowledge = knowledge
        self.answerability = answerability
        self.answerer = answerer

    async def answer(
        self, turn: Turn, language: str, retrieved: Retrieved | None = None
    ) -> tuple[Decision | None, int]:
        """The answer to every question of the message that the articles answer, and how
        many passages were considered (for the "not in our articles" decision).
        ``retrieved`` keeps what was found for the turn's later steps (``supports``)."""
        if not self.knowledge.may_search(turn.workspace.id):
            return None, 0  # no article holds a passage: nothing to find or weigh
        decisions, considered, unanswered = [], 0, []
        questions = asked_in(turn.message.text)
        # Each question is asked where the message says ("I'm in Brussels. How long, and do
        # I pay customs?"): the place binds both answers. Questions cut from one sentence
        # also share the rest of it (``context``); another sentence's question does not
        # ("How much is express? And do you have a shop in Paris?").
        told = told_part(turn.message.text) if len(questions) > 1 else ""
        earlier = ""  # the message's earlier questions: "How long to Japan? Customs too?"
        for question, sentence in questions:
            asked = f"{told} {question}" if told and question not in told else question
            context = sentence if sentence != question else ""
            if earlier and not places_in(f"{told} {sentence}"):
                # A later question is asked about the place an earlier one names (never the
                # other way round: "How much is express? And do you have a shop in Paris?").
                context = f"{earlier} {context}".strip()
            earlier = f"{earlier} {sentence}".strip()
            decision, seen = await self._one(turn, asked, language, retrieved, context)
            considered += seen
            if decision is not None:
                decisions.append(decision)
            else:
                unanswered.append(question)
        if not decisions:
            return None, considered
        first = decisions[0]
        for other in decisions[1:]:
            first.merge(other)
        if unanswered:
            first.replies.append(_not_found(turn, unanswered, language))
        return first, considered

    async def _one(
        self,
        turn: Turn,
        question: str,
        language: str,
        retrieved: Retrieved | None,
        context: str = "",
    ) -> tuple[Decision | None, int]:
        """One question; ``context`` is the sentence it was cut from when that sentence
        held two ("what does delivery to Switzerland cost and how long does it take?"), so
        that a place it names binds both."""
        workspace = turn.workspace
        passages, found_in = await self._retrieved(turn, question, language, retrieved, context)
        if not passages:
            return None, 0
        idf = await self.knowledge.idf(workspace.id)
        await self.answerability.prepare(question, passages)
        ranked = self.answerability.rank(question, passages, idf, context=context)
        kept = [c for c in ranked if c.probability >= self.answerability.threshold]
        if not kept:
            return None, len(passages)
        chosen = [_focused(passages, c) for c in kept]
        result = await self.answerer.answer(
            workspace, question, chosen, language=language, on_delta=turn.stream,
            handoff_available=False,
        )  # fmt: skip
        if result.reply_text is None or result.step in ("offline", "handoff", "none"):
            return None, len(passages)
        return self._decision(turn, result, kept[0], language, found_in), len(passages)

    async def supports(
        self, turn: Turn, text: str, language: str, retrieved: Retrieved | None = None
    ) -> float:
        """How likely ``text`` (an authored response) answers the customer's message.

        It is scored among the passages the articles offer for the message, as an answer
        from them would be: alone, it would lead every comparison (the ``margin`` feature)
        and a password-reset response would "answer" any question about the account."""
        question = turn.message.text
        passages, _ = await self._retrieved(turn, question, language, retrieved)
        authored = Passage("authored", "authored", "", text)
        idf = await self.knowledge.idf(turn.workspace.id)
        await self.answerability.prepare(question, [authored, *passages])
        ranked = self.answerability.rank(question, [authored, *passages], idf)
        return next((c.probability for c in ranked if c.unit.passage == 0), 0.0)

    async def names_all(self, turn: Turn, text: str) -> bool:
        """Whether ``text`` (an authored answer) mentions everything the message names."""
        idf = await self.knowledge.idf(turn.workspace.id)
        return self.answerability.names_all(turn.message.text, text, idf)

    async def _retrieved(
        self,
        turn: Turn,
        question: str,
        language: str,
        retrieved: Retrieved | None,
        context: str = "",
    ) -> tuple[list[Passage], str]:
        """``retrieve``, once per question and language in a turn."""
        key = (question, language)
        if retrieved is not None and key in retrieved:
            return retrieved[key]
        asked = asked_part(question)
        if asked != question and self.knowledge.may_search(turn.workspace.id):
            # The search embeds the question and the answerability check its asked part: one
            # batch costs little more than one text, and both are then in the encoder's cache.
            await self.knowledge.vectors([question, asked])
        found = await self.retrieve(
            turn.workspace.id, question, language, turn.workspace.default_locale, context=context
        )
        if retrieved is not None:
            retrieved[key] = found
        return found

    async def retrieve(
        self, workspace_id: str, question: str, language: str, default: str, *, context: str = ""
    ) -> tuple[list[Passage], str]:
        """Passages in ``language``, else in the workspace's ``default`` language."""
        passages = await self._search(workspace_id, question, language, context)
        if passages or language == default:
            return passages, language
        return await self._search(workspace_id, question, default, context), default

    async def _search(
        self, workspace_id: str, question: str, language: str, context: str = ""
    ) -> list[Passage]:
        """The best passages from several articles: the article that ranks first for a
        question about Canada may be domestic shipping, with the answer in the next one."""
        found = await self.knowledge.search(workspace_id, question, locale=language, k=SEARCHED)
        if not found:
            return []
        kept: list[Passage] = []
        per_article: dict[str, int] = {}
        for passage in found:
            if per_article.get(passage.article_id, 0) < PER_ARTICLE:
                kept.append(passage)
                per_article[passage.article_id] = per_article.get(passage.article_id, 0) + 1
        kept = kept[:TOP_PASSAGES]
        where = places_in(f"{context} {question}")
        if where:
            # "How long to Austria?": the passage about Europe shares one word with the
            # question at best and may rank below the domestic ones; it must be judged.
            kept += [
                p
                for p in found
                if p not in kept and place_match(where, f"{p.section or ''} {p.text}") > 0
            ][:PLACE_PASSAGES]
        asked = slots.Asked.of(question, answer_types(question))
        if asked.payment or asked.carriers:
            # "Can I pay cash on delivery?", "Which carriers do you use?": the sentence with the
            # list shares few words with it and may rank below the ones about paying later or
            # a parcel marked delivered; it must be judged.
            kept += [p for p in found if p not in kept and asked.holds_list(p.text)][
                :PLACE_PASSAGES
            ]
        return kept

    def _decision(
        self, turn: Turn, result: AnswerResult, best: Candidate, language: str, found_in: str
    ) -> Decision:
        text = result.reply_text or ""
        if found_in != language:
            # Extractive text is the article's own words; an LLM step answers in the
            # customer's language from them: either way, say where the answer comes from.
            key = (
                "knowledge.translated"
                if result.step.startswith("llm:")
                else ("knowledge.other_language")
            )
            name = messages.language_name(found_in, language)
            text = f"{messages.text(turn.workspace, key, language, language=name)}\n\n{text}"
        meta = {
            "step": result.step,
            **result.meta(),
            "answerability": round(best.probability, 3),
            "answer_language": found_in,
        }
        usage = {}
        if result.usage.get("calls"):
            totals = accumulate(turn.conversation.metadata.get("llm_usage"), result.usage)
            usage = {"llm_usage": totals}
        event = {"step": result.step, "reason": result.reason, "usage": result.usage,
                 "answerability": round(best.probability, 3)}  # fmt: skip
        return Decision([Reply(text, meta=meta)], events=[("answer", event)], metadata=usage)


def _not_found(turn: Turn, questions: list[str], language: str) -> Reply:
    """Said after the answers to the other questions of the message: leaving one out would
    look as if it had been answered."""
    opening, closing = _QUOTES.get(language, ("“", "”"))
    quoted = " ".join(f"{opening}{q.strip()}{closing}" for q in questions)
    text = messages.text(turn.workspace, "knowledge.partly_answered", language, question=quoted)
    offer_person(turn)
    button = messages.text(turn.workspace, "handoff.offer_button", language)
    meta = {"step": "handoff", "answer_reason": "no_answer", "unanswered": questions}
    return Reply(text, quick_replies=[button], meta=meta)


def _focused(passages: list[Passage], candidate: Candidate) -> Passage:
    passage = passages[candidate.unit.passage]
    return dataclasses.replace(passage, score=candidate.probability, focus=candidate.unit.text)
