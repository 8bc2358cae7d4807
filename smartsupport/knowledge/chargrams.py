"""Fuzzy title matching: TF-IDF cosine over character 3- to 5-grams.

Word-level BM25 misses what customers actually type: typos ("refnud"), run-together or split
words ("giftcard", "strike through"), and inflections the light stemmer does not know. Shared
character n-grams still match those. On StackFAQ adding this signal to the title side raised
MAP by 1.3 points (docs/benchmarks.md). Texts are short (titles), so the index is small.

The weighting is scikit-learn's ``TfidfVectorizer``'s, computed here (``ngrams.py`` says why
serving does without scikit-learn): folded text padded with one space at each end, n-grams
across word boundaries (``analyzer="char"``, so "gift card" and "giftcard" share "tca"),
sublinear tf, smoothed idf, unit-length rows, in float32.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from smartsupport.knowledge.text_analysis import fold
from smartsupport.ngrams import char_grams

SIZES = (3, 4, 5)


def padded(text: str) -> str:
    """Folded, whitespace collapsed, one space at each end (so grams see word edges)."""
    return " " + " ".join(fold(text).split()) + " "


def grams(text: str) -> list[str]:
    return char_grams(padded(text), min(SIZES), max(SIZES))


class CharGramIndex:
    """Cosine similarity of TF-IDF weighted character n-grams; rebuild when texts change."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        self._vocabulary: dict[str, int] = {}
        columns: list[int] = []
        rows: list[int] = []
        counts: list[int] = []
        for row, text in enumerate(texts):
            for gram, count in Counter(grams(text)).items():
                columns.append(self._vocabulary.setdefault(gram, len(self._vocabulary)))
                rows.append(row)
                counts.append(count)
        self._grams = bool(self._vocabulary)  # no text long enough for one gram: no match
        gram_of = np.asarray(columns, dtype=np.int64)
        text_of = np.asarray(rows, dtype=np.int64)
        # A gram's texts: its document frequency, and the length of its row below.
        lengths = np.bincount(gram_of, minlength=len(self._vocabulary)).astype(np.int64)
        # Smoothed idf, as if one more text held every gram.
        df = lengths.astype(np.float32)
        self._idf = np.log(np.float32(self.size + 1) / (df + 1)) + np.float32(1)
        weights = (np.log(np.asarray(counts, dtype=np.float32)) + 1) * self._idf[gram_of]
        norms = np.sqrt(np.bincount(text_of, weights=weights.astype(np.float64) ** 2))
        weights /= norms[text_of].astype(np.float32)
        # gram x text, so a query gathers the rows of its grams: CSR arrays by gram.
        order = np.argsort(gram_of, kind="stable")
        self._starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self._lengths = lengths
        self._texts, self._weights = text_of[order], weights[order]

    def score(self, query: str) -> np.ndarray:
        """Cosine similarity in [0, 1] of the query with every text."""
        if not self._grams:
            return np.zeros(self.size, dtype=np.float32)
        vocabulary = self._vocabulary
        counts = Counter(grams(query))
        seen = [(vocabulary[g], 1 + math.log(f)) for g, f in counts.items() if g in vocabulary]
        if not seen:
            return np.zeros(self.size, dtype=np.float32)
        # ``transform`` would drop grams no text has. Here they count, with the highest idf
        # (that of a document frequency of 0): they make the query vector longer, so a
        # partial match scores lower, as it should (and as the weights in index.py expect).
        unseen_idf = math.log(1 + self.size) + 1
        unseen = sum((1 + math.log(f)) ** 2 for g, f in counts.items() if g not in vocabulary)
        rows = np.fromiter((r for r, _ in seen), dtype=np.int64, count=len(seen))
        weights = np.fromiter((w for _, w in seen), dtype=np.float64, count=len(seen))
        weights *= self._idf[rows]
        norm = math.sqrt(float(weights @ weights) + unseen * unseen_idf**2)
        return self._gather(rows, weights / norm)

    def _gather(self, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``by_gram[rows].T @ weights``: each query gram adds its weight times its row's
        entries to the texts that hold it."""
        lengths = self._lengths[rows]
        total = int(lengths.sum())
        if not total:
            return np.zeros(self.size, dtype=np.float32)
        # The positions of every gathered row's entries, without a Python loop per row.
        ends = np.cumsum(lengths)
        positions = np.arange(total) + np.repeat(self._starts[rows] - (ends - lengths), lengths)
        scores = np.bincount(
            self._texts[positions],
            weights=self._weights[positions] * np.repeat(weights, lengths),
            minlength=self.size,
        )
        return scores.astype(np.float32)
