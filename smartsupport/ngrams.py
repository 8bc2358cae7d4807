"""Character and word n-grams, exactly as scikit-learn's ``TfidfVectorizer`` cuts them.

The intent model's text view and the knowledge base's fuzzy title index are TF-IDF over these
grams. scikit-learn fits them, but serving needs only the cutting: importing scikit-learn
(and SciPy under it) took 0.7 s of a 3.4 s start, for a few lines of string slicing. So the
server cuts the grams here, and ``tests/test_ngrams.py`` holds these functions to
scikit-learn's analyzers (``analyzer="char"``, ``"char_wb"`` and ``"word"`` with
``token_pattern=WORD_TOKEN``), text for text.
"""

from __future__ import annotations

import re

WORD_TOKEN = r"(?u)\b\w+\b"  # the token pattern the intent model's word view is fitted with
_WORD = re.compile(WORD_TOKEN)
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's: a run of two or more becomes one space


def char_grams(text: str, low: int, high: int) -> list[str]:
    """``analyzer="char"`` without its preprocessing: grams across word boundaries."""
    text = _WHITE_SPACES.sub(" ", text)
    grams: list[str] = []
    for n in range(low, min(high, len(text)) + 1):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


def char_wb_grams(text: str, low: int, high: int) -> list[str]:
    """``analyzer="char_wb"`` after lower-casing: grams inside each space-padded word; a word
    shorter than a size is counted once, whole."""
    grams: list[str] = []
    append = grams.append
    for word in _WHITE_SPACES.sub(" ", text).split():
        word = " " + word + " "
        length = len(word)
        for n in range(low, high + 1):
            offset = 0
            append(word[:n])
            while offset + n < length:
                offset += 1
                append(word[offset : offset + n])
            if offset == 0:
                break
    return grams


def word_grams(text: str, low: int, high: int) -> list[str]:
    """``analyzer="word"`` after lower-casing, with ``token_pattern=WORD_TOKEN``: the tokens
    (when ``low`` is 1) and the runs of ``low`` to ``high`` tokens joined by a space."""
    tokens = _WORD.findall(text)
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams
