"""Answering a question from retrieved passages by walking the answer chain in order.

    llm:NAME     a generated answer grounded in the passages, streamed sentence by sentence;
                 each sentence is checked against the passages before it is sent, and the
                 first unsupported one ends the answer (nothing unsupported is ever sent;
                 if nothing was sent yet, the chain moves on)
    extractive   the knowledge base's own answer (the best passage, through the templates)
    handoff      "I don't know" and an offer of a person (only when agents can take it)
    offline      "I don't know" and an invitation to leave a message

Which step answered, why the others did not, and the tokens and cost spent are returned
so the caller stores them on the turn's message meta and an event.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartsupport import messages
from smartsupport.domain import Passage
from smartsupport.errors import LLMError
from smartsupport.llm.chain import LLMStep, StopGeneration, Usage, estimated_completion
from smartsupport.llm.gate import GroundedSink
from smartsupport.llm.grounding import GroundingChecker
from smartsupport.llm.prompt import build_prompt
from smartsupport.privacy import Redactor

OnDelta = Callable[[str], Awaitable[None]]
# The knowledge base's extractive answerer: (question, passages, templates) -> text | None.
ExtractFn = Callable[[str, list[Passage], dict[str, Any]], "str | None | Awaitable[str | None]"]

STEPS = ("extractive", "handoff", "offline")


@dataclass
class AnswerResult:
    reply_text: str | None
    step: str  # which step answered: "llm:primary", "extractive", "handoff", "offline", "none"
    citations: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    handoff: bool = False
    reason: str = ""
    # Every step tried, in order: {"step", "outcome", "detail"}; for the turn's event.
    attempts: list[dict[str, str]] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """What belongs on the bot message's ``meta``."""
        return {
            "answer_step": self.step,
            "citations": self.citations,
            "llm_usage": self.usage,
            "answer_reason": self.reason,
            "answer_attempts": self.attempts,
        }


def citation(passage: Passage) -> dict[str, Any]:
    return {
        "passage_id": passage.id,
        "article_id": passage.article_id,
        "title": passage.title,
        "url": passage.url,
    }


class Answerer:
    """Build once per process (LLM steps hold connections and circuit breakers)."""

    def __init__(
        self,
        chain: Sequence[str],
        *,
        llm_steps: Mapping[str, LLMStep] | None = None,
        extract: ExtractFn | None = None,
        grounding: GroundingChecker | None = None,
        max_tokens: int = 300,
        temperature: float = 0.2,
    ) -> None:
        self.chain = list(chain)
        self.llm_steps = dict(llm_steps or {})
        for step in self.chain:
            if step not in STEPS and step not in self.llm_steps:
                raise ValueError(f"answer chain step {step!r} has no provider")
        self.extract = extract
        self.grounding = grounding or GroundingChecker()
        self.max_tokens = max_tokens
        self.temperature = temperature

    @classmethod
    def from_settings(cls, settings: Any, *, extract: ExtractFn | None = None) -> Answerer:
        """The chain of ``SMARTSUPPORT_ANSWER_CHAIN`` with providers from
        ``SMARTSUPPORT_LLM_PROVIDERS``; the grounding check uses the packaged embedder."""
        from smartsupport.embeddings import get_embedder
        from smartsupport.llm import create_provider

        used = {s.split(":", 1)[1] for s in settings.answer_chain if s.startswith("llm:")}
        steps = {
            f"llm:{p.name}": LLMStep(create_provider(p))
            for p in settings.llm_providers
            if p.name in used
        }
        embedder = get_embedder() if steps else None
        return cls(
            settings.answer_chain,
            llm_steps=steps,
            extract=extract,
            grounding=GroundingChecker(embedder),
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
        )

    @property
    def llm_chain(self) -> list[LLMStep]:
        """The chain's LLM steps in the chain's order (the backup after the first), for
        other asks of the same models (the resolution check, resolution_checks.py)."""
        return [self.llm_steps[name] for name in self.chain if name in self.llm_steps]

    async def warm_up(self) -> None:
        """Load the grounding embedder now (call from the app's lifespan): its first use
        is slow, and it runs inside the LLM step's timeout."""
        if self.grounding.embedder is not None:
            await asyncio.to_thread(self.grounding.embedder.encode, ["warm up"])

    async def aclose(self) -> None:
        for step in self.llm_steps.values():
            await step.provider.aclose()

    async def answer(
        self,
        workspace_config: Any,
        question: str,
        passages: list[Passage],
        *,
        language: str = "en",
        on_delta: OnDelta | None = None,
        handoff_available: bool = True,
    ) -> AnswerResult:
        """Walk the chain until a step answers. ``on_delta`` receives an LLM step's reply as
        it is produced (sentence-sized pieces joined by spaces); a reply that exists whole at
        once (extracted, a catalog text) is not streamed: it is the turn's message, and a delta
        would only add a second write and a third frame to the turn (issue 18);
        ``handoff_available=False`` (no agent online) skips the handoff step."""
        usage = Usage()
        attempts: list[dict[str, str]] = []
        templates = _templates(workspace_config)
        for step in self.chain:
            if step in self.llm_steps:
                result = await self._llm(
                    self.llm_steps[step], workspace_config, question, passages, language,
                    on_delta, usage, attempts,
                )  # fmt: skip
                if result is not None:
                    return result
                continue
            if step == "extractive":
                text = await self._extract(question, passages, templates, attempts)
                if text is not None:
                    return await self._final(
                        text, step, [citation(passages[0])] if passages else [],
                        usage, attempts, reason="extracted",
                    )  # fmt: skip
                continue
            if step == "handoff":
                if not handoff_available:
                    attempts.append({"step": step, "outcome": "skipped", "detail": "no agents"})
                    continue
                text = messages.text(workspace_config, "knowledge.no_answer", language)
                return await self._final(
                    text, step, [], usage, attempts, reason="no_answer", handoff=True
                )
            if step == "offline":
                text = messages.text(workspace_config, "knowledge.offline", language)
                return await self._final(text, step, [], usage, attempts, "no_answer")
        return AnswerResult(None, "none", [], usage.as_dict(), False, "chain_exhausted", attempts)

    async def _final(
        self,
        text: str,
        step: str,
        citations: list[dict[str, Any]],
        usage: Usage,
        attempts: list[dict[str, str]],
        reason: str,
        *,
        handoff: bool = False,
    ) -> AnswerResult:
        attempts.append({"step": step, "outcome": "answered", "detail": reason})
        return AnswerResult(text, step, citations, usage.as_dict(), handoff, reason, attempts)

    async def _extract(
        self,
        question: str,
        passages: list[Passage],
        templates: dict[str, Any],
        attempts: list[dict[str, str]],
    ) -> str | None:
        if self.extract is None:
            attempts.append({"step": "extractive", "outcome": "skipped", "detail": "not set"})
            return None
        if not passages:
            attempts.append({"step": "extractive", "outcome": "skipped", "detail": "no passages"})
            return None
        text = self.extract(question, passages, templates)
        if inspect.isawaitable(text):
            text = await text
        if not text:
            attempts.append({"step": "extractive", "outcome": "declined", "detail": "no match"})
            return None
        return text

    async def _llm(
        self,
        step: LLMStep,
        workspace_config: Any,
        question: str,
        passages: list[Passage],
        language: str,
        on_delta: OnDelta | None,
        usage: Usage,
        attempts: list[dict[str, str]],
    ) -> AnswerResult | None:
        if not passages:
            attempts.append({"step": step.name, "outcome": "skipped", "detail": "no passages"})
            return None
        redactor = Redactor() if step.config.redact else None
        hide = redactor.redact if redactor else (lambda t: t)
        shown = [
            Passage(p.id, p.article_id, hide(p.title), hide(p.text), p.url, p.locale, p.score,
                    p.section)
            for p in passages
        ]  # fmt: skip
        prompt = build_prompt(
            business=getattr(workspace_config, "name", "our company"),
            question=hide(question),
            passages=shown,
            language=language,
        )
        sink = GroundedSink(self.grounding, passages, prompt, redactor, on_delta)
        use_sink = on_delta is not None
        generated = False
        try:
            completion = await step.generate(
                prompt.messages,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                usage=usage,
                sink=sink if use_sink else None,
            )
            generated = True  # the step has recorded the server's usage
            if not use_sink:
                await sink.feed(completion.text)
            await sink.finish()
        except StopGeneration:
            pass
        except LLMError as exc:
            if not sink.committed:
                attempts.append({"step": step.name, "outcome": "failed", "detail": str(exc)})
                return None
            sink.reason = "stream_interrupted"
        if not generated and sink.raw:
            # We ended the stream (or it broke) before the server sent its totals.
            estimate = estimated_completion(prompt.messages, sink.raw, step.config.model)
            step.charge(usage, estimate)
        if not sink.sentences:
            attempts.append({"step": step.name, "outcome": "declined", "detail": sink.reason})
            return None
        text = " ".join(sink.sentences)
        reason = sink.reason or "generated"
        attempts.append({"step": step.name, "outcome": "answered", "detail": reason})
        cited = [citation(passages[i]) for i in sorted(sink.cited) if i < len(passages)]
        return AnswerResult(text, step.name, cited, usage.as_dict(), False, reason, attempts)


def _templates(workspace_config: Any) -> dict[str, Any]:
    section = getattr(workspace_config, "section", None)
    return section("templates") if callable(section) else {}
