"""What of a question's words a text holds: the words weighed by how rare they are in the
workspace's articles (``weighted``), everyday words told apart from the things a question
names (``load_common_words``), and the three measures ``answerability`` learns from:
``coverage`` (the share of the question's known words a text holds), ``missing`` (the rarest
named word it lacks) and ``unknown`` (the share of named words no article holds at all).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from smartsupport.knowledge.bm25 import BM25Index
from smartsupport.knowledge.places import places_in
from smartsupport.knowledge.text_analysis import terms

# The most frequent words of each language (bench/make_common_words.py, from wordfreq):
# a question's filler, as opposed to the things it names.
COMMON_WORDS_FILE = Path(__file__).parent / "data" / "common_words.json"


def weighted(
    question: str, idf: Callable[[str], float], common: frozenset[str] = frozenset()
) -> dict[str, float]:
    found = terms(question)
    if isinstance(idf, BM25Index):
        # The articles' spelling of a misspelt or variant word; an everyday word of one of
        # the languages ("porto", "prendo") is what it says.
        found = [t if t in common else idf.spelled(t) for t in found]
    return {t: idf(t) for t in dict.fromkeys(found)}


class TermSets:
    """The index terms of texts scored again and again (article sentences): a bounded memo of
    a pure function of the text, holding no workspace's data, so one per process is safe."""

    def __init__(self, size: int = 50_000) -> None:
        self._known: dict[str, frozenset[str]] = {}
        self._size = size

    def __call__(self, text: str) -> frozenset[str]:
        found = self._known.get(text)
        if found is None:
            if len(self._known) >= self._size:
                self._known.clear()
            found = self._known[text] = frozenset(terms(text))
        return found


terms_of = TermSets()


def coverage(wanted: Mapping[str, float], text: str) -> float:
    total = sum(wanted.values())
    if not total:
        return 0.0
    present = terms_of(text)
    return sum(w for t, w in wanted.items() if t in present) / total


def missing(
    wanted: Mapping[str, float], text: str, idf: Callable[[str], float], common: frozenset[str]
) -> float:
    """The weight of the rarest named (not everyday) question term the text lacks, relative
    to a term seen nowhere (1.0: the question names something the text never mentions)."""
    present = terms_of(text)
    lacking = [
        w
        for t, w in wanted.items()
        if t not in present and t not in common and not cjk_noise(t, w, idf)
    ]
    ceiling = idf("\0never-seen\0")
    return max(lacking, default=0.0) / ceiling if ceiling else 0.0


def unknown(
    wanted: Mapping[str, float],
    idf: Callable[[str], float],
    common: frozenset[str],
    places: frozenset[str] = frozenset(),
) -> float:
    """The share of the question's named terms that no passage contains at all. Chinese and
    Japanese terms are character pairs, most of them straddling two words ("的鞋" of
    "我买的鞋子"): one that no article contains says nothing about what the question names.
    Nor does a country or city the gazetteer knows (``places``): "Belgique" is in no
    article, and the passage about Europe answers for it (``place_match``)."""
    named = [t for t in wanted if t not in common and t not in places and not CJK_PAIR.fullmatch(t)]
    if not named:
        return 0.0
    ceiling = idf("\0never-seen\0")
    return sum(1 for t in named if idf(t) >= ceiling) / len(named)


def only_names(
    wanted: Mapping[str, float],
    text: str,
    idf: Callable[[str], float],
    common: frozenset[str],
    places: frozenset[str] = frozenset(),
) -> bool:
    """Whether ``text`` shares only names with the question (a product's, a brand's: see
    ``BM25Index.names``) while the question also names something no article mentions at all:
    "is the Trail Runner good for wide feet?" and "Trail Runner shoes run half a size small"
    share the product, not what is asked about it."""
    names: frozenset[str] = getattr(idf, "names", frozenset())
    if not names:
        return False
    ceiling = idf("\0never-seen\0")
    named = [t for t in wanted if t not in common and t not in places and not CJK_PAIR.fullmatch(t)]
    if not any(idf(t) >= ceiling for t in named):
        return False
    present = terms_of(text)
    shared = [t for t in named if t in present]
    return bool(shared) and all(t in names and t not in common for t in shared)


def topic_of(
    wanted: Mapping[str, float], idf: Callable[[str], float], common: frozenset[str]
) -> str | None:
    """The question's most specific word the articles hold: the rarest of its known words that
    is not an everyday word of a language, a Chinese or Japanese character pair or a number
    ("return" in "how many days do I have to return them?"); None when it has none."""
    ceiling = idf("\0never-seen\0")
    named = {
        t: w
        for t, w in wanted.items()
        if w < ceiling and t not in common and not CJK_PAIR.fullmatch(t) and not t.isdigit()
    }
    return max(named, key=lambda t: named[t]) if named else None


CJK_PAIR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]{1,2}")


def cjk_noise(term: str, weight: float, idf: Callable[[str], float]) -> bool:
    """A Chinese or Japanese character pair that no article contains (see ``unknown``)."""
    return bool(CJK_PAIR.fullmatch(term)) and weight >= idf("\0never-seen\0")


@functools.lru_cache(maxsize=4096)
def place_terms(question: str) -> frozenset[str]:
    """The index terms of the question's words that name a place on their own."""
    return frozenset(t for word in question.split() if places_in(word) for t in terms(word))


def load_common_words(path: Path = COMMON_WORDS_FILE) -> frozenset[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    words = {t for words in data["languages"].values() for t in words}
    # Another ending of an everyday word is everyday too ("aurai" beside "aurais" and
    # "aurait"): the lists hold the most frequent forms, not every form of a verb.
    endings = {t[:-1] for t in words if len(t) >= 5}
    return frozenset(words | endings)


def coverages(
    question_terms: Mapping[str, float], texts: Sequence[str], idf: Callable[[str], float]
) -> np.ndarray:
    """How much of the question's known words (see ``passage_features``) each text holds."""
    ceiling = idf("\0never-seen\0")
    known = {t: w for t, w in question_terms.items() if w < ceiling}
    return np.array([coverage(known, text) for text in texts])
