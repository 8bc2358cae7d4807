"""BM25 keyword ranking in numpy, with weighted fields (a simplified BM25F).

Postings are stored per term as (passage rows, saturated term weight), so scoring a query is
a handful of numpy scatter-adds: well under a millisecond for tens of thousands of passages.

``score`` also returns each passage's score divided by the query's best possible score (every
query term present with a saturated frequency). That ratio lies in [0, 1) and means the same
thing in any corpus, which lets it be fused with cosine similarities and used as a confidence.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from smartsupport.knowledge.text_analysis import terms

# Words of alphabetic scripts: CJK index terms are character pairs, digits are exact.
_SPELLABLE = re.compile(r"[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")


def _cuts(word: str) -> list[str]:
    return [word[:i] + word[i + 1 :] for i in range(len(word))]


MIN_SPELLED = 6  # the shortest word, and the shortest respelling, ``spelled`` considers

# k1 and b are the usual defaults; the title weight counts a title word like this many body
# words, because a help article's title says what it answers.
K1 = 1.2
B = 0.75


class BM25Index:
    """An immutable index over documents given as weighted fields, e.g.
    ``[(title, 3.0), (text, 1.0)]``. Rebuild it when the documents change."""

    def __init__(
        self,
        documents: Sequence[Sequence[tuple[str, float]]],
        languages: Sequence[str] | None = None,
    ) -> None:
        """``languages``: each document's language, when known, for ``names``."""
        self.size = len(documents)
        tfs: list[dict[str, float]] = []
        lengths = np.zeros(self.size, dtype=np.float32)
        for row, fields in enumerate(documents):
            tf: dict[str, float] = defaultdict(float)
            for text, weight in fields:
                for term in terms(text):
                    tf[term] += weight
            tfs.append(tf)
            lengths[row] = sum(tf.values())
        avg = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        norm = K1 * (1 - B + B * lengths / avg)

        rows: dict[str, list[int]] = defaultdict(list)
        freqs: dict[str, list[float]] = defaultdict(list)
        for row, tf in enumerate(tfs):
            for term, frequency in tf.items():
                rows[term].append(row)
                freqs[term].append(frequency)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._idf: dict[str, float] = {}
        for term, term_rows in rows.items():
            r = np.asarray(term_rows, dtype=np.int32)
            f = np.asarray(freqs[term], dtype=np.float32)
            self._postings[term] = (r, f * (K1 + 1) / (f + norm[r]))
            df = len(term_rows)
            self._idf[term] = math.log(1 + (self.size - df + 0.5) / (df + 0.5))
        self.names = _names(tfs, languages or [])
        self._deletions: dict[str, set[str]] | None = None  # built on the first misspelling
        self._spelled: dict[str, str] = {}

    def __call__(self, term: str) -> float:
        return self.idf(term)

    def spelled(self, term: str) -> str:
        """``term`` as the documents spell it, when they do not but spell a word one edit away
        ("installment" for "instalment", "adress", "recieve", "color"): the most frequent such
        word, else ``term``. Short words are left alone ("shirt" is not "short", "saber"
        is not "aber"), and a letter changed counts only in long ones."""
        if term in self._idf or len(term) < MIN_SPELLED or not _SPELLABLE.fullmatch(term):
            return term
        known = self._spelled.get(term)
        if known is None:
            if len(self._spelled) > 50_000:
                self._spelled.clear()
            known = self._spelled[term] = self._nearest(term)
        return known

    def _nearest(self, term: str) -> str:
        if self._deletions is None:
            self._deletions = defaultdict(set)
            for word in self._idf:
                if len(word) >= 4:
                    for cut in _cuts(word):
                        self._deletions[cut].add(word)
        found: set[str] = set(self._deletions.get(term, ()))  # a letter missing
        cuts = _cuts(term)
        found.update(c for c in cuts if c in self._idf)  # a letter too many
        for i in range(len(term) - 1):  # two letters swapped
            swapped = term[:i] + term[i + 1] + term[i] + term[i + 2 :]
            if swapped in self._idf:
                found.add(swapped)
        if len(term) >= 7:  # a letter changed
            for cut in cuts:
                found.update(
                    w
                    for w in self._deletions.get(cut, ())
                    if len(w) == len(term)
                    and sum(a != b for a, b in zip(w, term, strict=True)) == 1
                )
        # Short words of one language are other words of another ("saber" is not "aber").
        found = {w for w in found if len(w) >= MIN_SPELLED}
        if not found:
            return term
        return min(found, key=lambda w: (self._idf[w], w))

    def idf(self, term: str) -> float:
        """The inverse document frequency of an index term; a term seen in no document
        gets the highest value there is."""
        return self._idf.get(term, math.log(1 + (self.size + 0.5) / 0.5))

    def score(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(raw BM25 scores, scores normalised by the query's best possible score)."""
        scores = np.zeros(self.size, dtype=np.float32)
        best = 0.0
        for term, count in Counter(self.spelled(t) for t in terms(query)).items():
            # An unseen term still counts towards the best possible score: a query about
            # "crypto payments" is not well answered by a passage that only says "payments".
            idf = self.idf(term)
            best += count * idf * (K1 + 1)
            posting = self._postings.get(term)
            if posting is not None:
                # A posting lists each row once, so plain indexing adds like np.add.at,
                # several times faster.
                scores[posting[0]] += count * idf * posting[1]
        normalised = scores / best if best > 0 else scores
        return scores, normalised


# A word the articles use in this many languages is a name, not a word of one of them.
NAME_LANGUAGES = 3


def _names(tfs: Sequence[dict[str, float]], languages: Sequence[str]) -> frozenset[str]:
    """The terms the documents use unchanged in several languages: the names of products,
    brands and carriers ("trail", "runner", "paypal", "ups"), which translation leaves alone,
    as opposed to the words about them. Numbers are values, not names."""
    if len(set(languages)) < NAME_LANGUAGES:
        return frozenset()
    seen: dict[str, set[str]] = defaultdict(set)
    for tf, language in zip(tfs, languages, strict=True):
        for term in tf:
            seen[term].add(language)
    return frozenset(
        t for t, found in seen.items() if len(found) >= NAME_LANGUAGES and not t.isdigit()
    )
