"""The server cuts TF-IDF's grams itself (``smartsupport/ngrams.py``), so that serving needs no
scikit-learn: the grams must be exactly scikit-learn's, or a trained model would see other
features at serving time than it was fitted on."""

from __future__ import annotations

import random

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from smartsupport.ngrams import WORD_TOKEN, char_grams, char_wb_grams, word_grams

WRITTEN = [
    "", " ", "x", "ab", "a b c d", "Hello  world", " a ",
    "I  want\tmy\nREFUND now!!", "Wie lange dauert der Versand nach Deutschland?",
    "ß İstanbul ÉCOLE", "日本語のテキスト です", "it's  a  trap—yes", "e-mail: a@b.co, #42",
    "\u00a0non\u2003breaking\u200bspaces", "ÀÉÎÕÜ ﬁ ligature", "emoji 👍🏽 ok",
]  # fmt: skip


def generated(count: int) -> list[str]:
    rnd = random.Random(0)
    alphabet = "ab cdeé\t\nXY.!'-_日9\u00a0"
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30))) for _ in range(count)]


TEXTS = WRITTEN + generated(2000)


@pytest.mark.parametrize(("low", "high"), [(2, 5), (1, 3), (3, 3)])
def test_char_wb_grams_are_scikit_learns(low, high):
    analyze = TfidfVectorizer(analyzer="char_wb", ngram_range=(low, high)).build_analyzer()
    for text in TEXTS:
        assert char_wb_grams(text.lower(), low, high) == analyze(text), repr(text)


@pytest.mark.parametrize(("low", "high"), [(1, 2), (2, 3), (1, 1)])
def test_word_grams_are_scikit_learns(low, high):
    vectorizer = TfidfVectorizer(ngram_range=(low, high), token_pattern=WORD_TOKEN)
    analyze = vectorizer.build_analyzer()
    for text in TEXTS:
        assert word_grams(text.lower(), low, high) == analyze(text), repr(text)


@pytest.mark.parametrize(("low", "high"), [(3, 5), (1, 2)])
def test_char_grams_are_scikit_learns(low, high):
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(low, high), lowercase=False)
    analyze = vectorizer.build_analyzer()
    for text in TEXTS:
        assert char_grams(text, low, high) == analyze(text), repr(text)
