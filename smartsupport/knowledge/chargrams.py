"""Fuzzy title matching: TF-IDF cosine over character 3- to 5-grams.

Word-level BM25 misses what customers actually type: typos ("refnud"), run-together or split
words ("giftcard", "strike through"), and inflections the light stemmer does not know. Shared
character n-grams still match those. On StackFAQ adding this signal to the title side raised
MAP by about 3 points (docs/benchmarks.md). Texts are short (titles), so the index is small.
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
        self._postings = {
            g: (np.asarray(r, dtype=np.int32), np.asarray(weights[g], dtype=np.float32))
            for g, r in rows.items()
        }

    def score(self, query: str) -> np.ndarray:
        """Cosine similarity in [0, 1] of the query with every text."""
        scores = np.zeros(self.size, dtype=np.float32)
        # Grams never seen get the highest idf: they make the query vector longer, so a
        # partial match scores lower, as it should.
        unseen = math.log(1 + self.size) + 1
        vector = {
            g: (1 + math.log(f)) * self._idf.get(g, unseen) for g, f in grams(query).items()
        }
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        for g, w in vector.items():
            posting = self._postings.get(g)
            if posting is not None:
                np.add.at(scores, posting[0], (w / norm) * posting[1])
        return scores
