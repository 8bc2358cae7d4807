"""The words a transcript is indexed and searched by: the one place that turns text into
search terms (docs: the "Transcript search terms" contract).

    index_terms(text, blind)    what the full-text index stores for a message (a string of
                                terms separated by spaces)
    query_terms(query, blind)   the terms an agent's search must all match

Both normalise the same way: lower-case (case-folded), accents folded ("Café" -> "cafe"),
split on anything that is not a letter or digit (so "ORD-10234" is "ord" "10234" and odd
characters in a search are separators, never syntax), and Chinese, Japanese and Korean text,
which has no spaces, split into overlapping two-character pieces ("退货政策" -> "退货" "货政"
"政策"), so a search for any two-character word finds it.

Each term goes through ``blind`` when given: with field encryption on, ``blind`` is the
keyring's keyed hash, so the index (SQLite FTS5, PostgreSQL tsvector) holds hashes and never
a customer's words; a search blinds its terms the same way and still matches exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator

Blind = Callable[[str], str]

MAX_TERM = 64  # longer runs (a pasted token, base64) are cut: they are no one's search word
MAX_QUERY_TERMS = 32
WORD = re.compile(r"[^\W_]+")
# Scripts written without spaces between words: Han, Hiragana, Katakana, Hangul.
CJK = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff]+"
)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _terms(text: str) -> Iterator[str]:
    for word in WORD.findall(_fold(text)):
        start = 0
        for run in CJK.finditer(word):
            if run.start() > start:
                yield word[start : run.start()][:MAX_TERM]
            chars = run.group()
            if len(chars) == 1:
                yield chars
            else:
                yield from (chars[i : i + 2] for i in range(len(chars) - 1))
            start = run.end()
        if start < len(word):
            yield word[start:][:MAX_TERM]


def _unique(terms: Iterator[str], blind: Blind | None) -> list[str]:
    # Each distinct term is blinded once: a message repeats its words, and the keyed hash
    # is most of what indexing a message costs.
    unique = list(dict.fromkeys(terms))
    return [blind(term) for term in unique] if blind else unique


def index_terms(text: str, blind: Blind | None = None) -> str:
    """The terms of ``text`` for the full-text index, separated by single spaces (each
    once, in the order they first appear)."""
    return " ".join(_unique(_terms(text), blind))


def query_terms(query: str, blind: Blind | None = None) -> list[str]:
    """The terms a search for ``query`` must all match (at most ``MAX_QUERY_TERMS``); an
    empty list when the query holds no letter or digit."""
    return _unique(_terms(query), blind)[:MAX_QUERY_TERMS]
