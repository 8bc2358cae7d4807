"""The gate between a streaming model and the customer: deltas are cut into sentences,
and each sentence is sent only once the passages support it.

The first unsupported sentence, ``NO_ANSWER`` or a repeat of the system prompt ends the
generation (``StopGeneration``); what was already sent stays, and is all grounded.
Citation markers ``[n]`` are taken out of the text and kept as citations; placeholders of
redacted data are put back before sending, but left out of the grounding check, because
the customer's own data is not a claim the articles must support.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from smartsupport.domain import Passage
from smartsupport.llm.chain import StopGeneration
from smartsupport.llm.grounding import GroundingChecker, cut_sentences
from smartsupport.llm.prompt import NO_ANSWER, Prompt, leaks_system_prompt
from smartsupport.privacy import Redactor

_CITATION = re.compile(r"\s*\[(\d{1,2})\]")
_PLACEHOLDER = re.compile(r"\[[A-Z]+_\d+\]")


class GroundedSink:
    """A ``TextSink`` for ``LLMStep.generate``; ``sentences`` is what was accepted."""

    def __init__(
        self,
        checker: GroundingChecker,
        passages: list[Passage],
        prompt: Prompt,
        redactor: Redactor | None,
        on_delta: Callable[[str], Awaitable[None]] | None,
    ) -> None:
        self.checker = checker
        self.passages = passages
        self.prompt = prompt
        self.redactor = redactor
        self.on_delta = on_delta
        self.committed = False
        self.reset()

    def reset(self) -> None:
        self.raw = ""
        self.buffer = ""
        self.sentences: list[str] = []
        self.cited: set[int] = set()
        self.reason = ""

    async def feed(self, delta: str) -> None:
        self.raw += delta
        self.buffer += delta
        head = self.buffer.lstrip()
        if head.startswith(NO_ANSWER[: len(head)]) and len(head) < len(NO_ANSWER):
            return  # might still become NO_ANSWER: wait before judging
        if head.startswith(NO_ANSWER) or (not self.sentences and NO_ANSWER in head):
            self.reason = "model_said_no_answer"
            raise StopGeneration
        done, self.buffer = cut_sentences(self.buffer)
        for sentence in done:
            await self._accept(sentence)

    async def finish(self) -> None:
        rest, self.buffer = self.buffer.strip(), ""
        if rest:
            await self.feed(rest + "\n")
        if not self.sentences and not self.reason:
            self.reason = "empty"

    async def _accept(self, sentence: str) -> None:
        cited = {int(n) - 1 for n in _CITATION.findall(sentence)}
        claim = _CITATION.sub("", sentence).strip()
        # The customer's own data is not a claim the articles must support.
        checked = _PLACEHOLDER.sub(" ", claim)
        text = self.redactor.restore(claim) if self.redactor is not None else claim
        if not text:
            return
        if NO_ANSWER in text:
            self.reason = "model_said_no_answer"
            raise StopGeneration
        if leaks_system_prompt(text, self.prompt):
            self.reason = "system_prompt_leak"
            raise StopGeneration
        support = await asyncio.to_thread(self.checker.check_sentence, checked, self.passages)
        if not support.supported:
            self.reason = "unsupported" if not self.sentences else "truncated_unsupported"
            raise StopGeneration
        if support.passage is not None and support.substantive:
            cited.add(support.passage)
        if not support.substantive and not self.sentences:
            return  # a leading "Sure!" carries nothing: do not send it alone
        self.cited |= {i for i in cited if 0 <= i < len(self.passages)}
        if self.on_delta is not None:
            await self.on_delta(text if not self.sentences else " " + text)
            self.committed = True
        self.sentences.append(text)
