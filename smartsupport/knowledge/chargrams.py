"""Fuzzy title matching: TF-IDF cosine over character 3- to 5-grams.

Word-level BM25 misses what customers actually type: typos ("refnud"), run-together or split
words ("giftcard", "strike through"), and inflections the light stemmer does not know. Shared
character n-grams still match those. On StackFAQ adding this signal to the title side raised
MAP by 1.3 points (docs/benchmarks.md). Texts are short (titles), so the index is small.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from smartsupport.knowledge.text_analysis import fold

SIZES = (3, 4, 5)


def grams(text: str) -> Counter[str]:
    padded = " " + " ".join(fold(text).split()) + " "
    return Counter(padded[i : i + n] for n in SIZES for i in range(len(padded) - n + 1))


class CharGramIndex:
    """Cosine similarity of TF-IDF weighted character n-grams; rebuild when texts change."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        counts = [grams(t) for t in texts]
        df: Counter[str] = Counter(g for c in counts for g in c)
        self._idf = {g: math.log((1 + self.size) / (1 + n)) + 1 for g, n in df.items()}
        rows: dict[str, list[int]] = {}
        weights: dict[str, list[float]] = {}
        for row, c in enumerate(counts):
            vector = {g: (1 + math.log(f)) * self._idf[g] for g, f in c.items()}
            norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
            for g, w in vector.items():
                rows.setdefault(g, []).append(row)
                weights.setdefault(g, []).append(w / norm)
        # One flat array of (row, weight) pairs, sliced per gram: a query then costs one
        # concatenate and one bincount instead of a scatter-add per gram.
        self._slices: dict[str, tuple[int, int]] = {}
        flat_rows: list[int] = []
        flat_weights: list[float] = []
        for g, r in rows.items():
            self._slices[g] = (len(flat_rows), len(flat_rows) + len(r))
            flat_rows.extend(r)
            flat_weights.extend(weights[g])
        self._rows = np.asarray(flat_rows, dtype=np.int64)
        self._weights = np.asarray(flat_weights, dtype=np.float32)

    def score(self, query: str) -> np.ndarray:
        """Cosine similarity in [0, 1] of the query with every text."""
        # Grams never seen get the highest idf: they make the query vector longer, so a
        # partial match scores lower, as it should.
        unseen = math.log(1 + self.size) + 1
        vector = {g: (1 + math.log(f)) * self._idf.get(g, unseen) for g, f in grams(query).items()}
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        found = [(*self._slices[g], w / norm) for g, w in vector.items() if g in self._slices]
        if not found:
            return np.zeros(self.size, dtype=np.float32)
        bounds = np.asarray(found, dtype=np.float64)
        starts = bounds[:, 0].astype(np.int64)
        lengths = bounds[:, 1].astype(np.int64) - starts
        # The flat positions of every posting of every query gram, without a Python loop.
        shift = starts - np.concatenate(([0], np.cumsum(lengths)[:-1]))
        index = np.repeat(shift, lengths) + np.arange(int(lengths.sum()))
        query_weights = np.repeat(bounds[:, 2].astype(np.float32), lengths)
        scores = np.bincount(
            self._rows[index], weights=self._weights[index] * query_weights, minlength=self.size
        )
        return scores.astype(np.float32)
