"""Is a generated sentence supported by the retrieved passages? Checked before it is sent.

A sentence passes when every number in it appears in the passages (prices, days and
limits are what a model most often invents) and either most of its content words occur
in one passage, or its embedding is close to a passage sentence (the packaged
multilingual model, so an answer in German from English articles can still pass).
Sentences without content words ("Thanks!") pass without counting as support.

The thresholds were set by hand on the examples pinned in tests/test_llm_grounding.py:
German and French translations of a passage sentence score about 0.66 similarity, invented
claims about the same topics 0.27-0.45; paraphrases reach >= 0.6 word overlap. They are a
first calibration, not a measured operating point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from smartsupport.domain import Passage

_STOP = set(
    """the and for are but not you your our with this that from have has was were will can
    they them their there here what when where which who how all any its it's into about
    also than then just only very more most such some may might would could should been
    being does did doing per via yes out off over under again please thank thanks sure
    hello happy glad help welcome course great okay hope helps certainly let know
    der die das und ist nicht ein eine mit für auf den dem des von les des une est pas pour
    avec dans que qui sur par los las una por con para del que""".split()
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


class Embedder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def cut_sentences(text: str) -> tuple[list[str], str]:
    """The complete sentences at the start of a growing text, and the unfinished rest."""
    last = None
    for last in _SENTENCE_END.finditer(text):  # noqa: B007 - we want the final match
        pass
    if last is None:
        return [], text
    return split_sentences(text[: last.start() + 1]), text[last.end() :]


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 2 and w not in _STOP}


def numbers(text: str) -> set[str]:
    return {n.rstrip(".,:").replace(",", ".") for n in _NUMBER.findall(text)}


@dataclass(slots=True)
class SentenceSupport:
    sentence: str
    supported: bool
    substantive: bool
    passage: int | None  # index of the best supporting passage
    overlap: float
    similarity: float


class GroundingChecker:
    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        min_overlap: float = 0.6,
        min_similarity: float = 0.6,
    ) -> None:
        self.embedder = embedder
        self.min_overlap = min_overlap
        self.min_similarity = min_similarity

    def check_sentence(self, sentence: str, passages: list[Passage]) -> SentenceSupport:
        """CPU work of a few ms with an embedder: call it from a thread in async code."""
        words = content_words(sentence)
        if not words and not numbers(sentence):
            return SentenceSupport(sentence, True, False, None, 0.0, 0.0)
        texts = [f"{p.title}\n{p.text}" for p in passages]
        if not texts:
            return SentenceSupport(sentence, False, True, None, 0.0, 0.0)
        known_numbers = set().union(*(numbers(t) for t in texts))
        numbers_ok = numbers(sentence) <= known_numbers
        overlaps = [len(words & content_words(t)) / max(1, len(words)) for t in texts]
        best = int(np.argmax(overlaps))
        overlap = overlaps[best]
        similarity = 0.0
        if numbers_ok and overlap < self.min_overlap and self.embedder is not None:
            best_sim, similarity = self._similarity(sentence, texts)
            if similarity >= self.min_similarity:
                best = best_sim
        supported = numbers_ok and (
            overlap >= self.min_overlap or similarity >= self.min_similarity
        )
        return SentenceSupport(sentence, supported, True, best, overlap, similarity)

    def _similarity(self, sentence: str, texts: list[str]) -> tuple[int, float]:
        assert self.embedder is not None
        pieces: list[tuple[int, str]] = [
            (i, s) for i, t in enumerate(texts) for s in split_sentences(t) if len(s) > 3
        ]
        if not pieces:
            return 0, 0.0
        vectors = self.embedder.encode([sentence] + [s for _, s in pieces])
        scores = vectors[1:] @ vectors[0]
        top = int(np.argmax(scores))
        return pieces[top][0], float(scores[top])
