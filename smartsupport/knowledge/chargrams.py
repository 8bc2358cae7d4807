"""Fuzzy title matching: TF-IDF cosine over character 3- to 5-grams.

Word-level BM25 misses what customers actually type: typos ("refnud"), run-together or split
words ("giftcard", "strike through"), and inflections the light stemmer does not know. Shared
character n-grams still match those. On StackFAQ adding this signal to the title side raised
MAP by 1.3 points (docs/benchmarks.md). Texts are short (titles), so the index is small.

scikit-learn's ``TfidfVectorizer`` does the work: folded text padded with one space at each
end, n-grams across word boundaries (``analyzer="char"``, so "gift card" and "giftcard"
share "tca"), sublinear tf, smoothed idf, unit-length rows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from smartsupport.knowledge.text_analysis import fold

SIZES = (3, 4, 5)


def padded(text: str) -> str:
    """Folded, whitespace collapsed, one space at each end (so grams see word edges)."""
    return " " + " ".join(fold(text).split()) + " "


class CharGramIndex:
    """Cosine similarity of TF-IDF weighted character n-grams; rebuild when texts change."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        self._vectorizer = TfidfVectorizer(
            analyzer="char",
            ngram_range=(min(SIZES), max(SIZES)),
            preprocessor=padded,
            lowercase=False,  # fold() already did, accents too
            sublinear_tf=True,
            norm=None,  # rows are normalised below; the query's norm needs its raw weights
            dtype=np.float32,
        )
        try:
            weights = self._vectorizer.fit_transform(texts)
        except ValueError:  # no text long enough for one gram: nothing can match
            weights = None
        # gram x text, so a query gathers the rows of its grams. Kept as the CSR arrays alone:
        # SciPy's row indexing and sparse product cost several times the arithmetic.
        self._grams = weights is not None
        if weights is not None:
            by_gram = normalize(weights).T.tocsr()
            self._starts = by_gram.indptr[:-1].astype(np.int64)
            self._lengths = np.diff(by_gram.indptr).astype(np.int64)
            self._texts, self._weights = by_gram.indices, by_gram.data
        self._analyze = self._vectorizer.build_analyzer()

    def score(self, query: str) -> np.ndarray:
        """Cosine similarity in [0, 1] of the query with every text."""
        if not self._grams:
            return np.zeros(self.size, dtype=np.float32)
        vocabulary = self._vectorizer.vocabulary_
        counts = Counter(self._analyze(query))
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
        weights *= self._vectorizer.idf_[rows]
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
