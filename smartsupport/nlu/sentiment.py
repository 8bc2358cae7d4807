"""Sentiment in [-1, 1] for every message.

English uses VADER (a lexicon and rules tuned for short informal text, MIT licence). VADER
knows only English, so for every other language we use a linear head on the multilingual
sentence embedding that the intent model computes anyway: it was fitted (see
``sentiment_fit.py``) to reproduce VADER's score on English sentences and VADER's
human-rated lexicon words, and the multilingual encoder maps "this is terrible" and "c'est
horrible" to nearby vectors, so the head transfers across languages. Its measured agreement
with human labels per language is in docs/benchmarks.md (NLU section).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from smartsupport.nlu.language import Guesses, detect_language, guesses

HEAD_PATH = Path(__file__).parent / "data" / "sentiment_head.npz"
VADER_LANGUAGES = frozenset({"en"})


class _Vader:
    _lock = threading.Lock()

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, text: str) -> float:
        return float(self._analyzer.polarity_scores(text)["compound"])


@lru_cache(maxsize=1)
def _vader() -> _Vader:
    """The process-wide VADER analyser (its packaged lexicon, loaded once, read-only)."""
    return _Vader()


@lru_cache(maxsize=1)
def _head() -> tuple[np.ndarray, float]:
    """The packaged multilingual head (``HEAD_PATH``), loaded once per process, read-only."""
    data = np.load(HEAD_PATH)
    return data["coef"].astype(np.float32), float(data["intercept"])


def embedding_sentiment(vector: np.ndarray) -> float:
    """The multilingual head's score for one L2-normalised sentence embedding."""
    coef, intercept = _head()
    return float(np.clip(float(vector @ coef) + intercept, -1.0, 1.0))


def sentiment(text: str, language: str, vector: np.ndarray | None = None) -> float:
    """A score in [-1, 1]: negative is unhappy. ``vector`` is the message's embedding."""
    if not text.strip():
        return 0.0
    if language in VADER_LANGUAGES or vector is None:
        return _vader().score(text[:5000])
    return embedding_sentiment(vector)


def read(text: str, default: str, vector: np.ndarray | None) -> tuple[Guesses, str, float]:
    """What the NLU engine reads of a message besides its intent: the language detector's
    guesses, the language (``default`` when unsure) and the sentiment, wherever that runs
    (engine.py, or the encoder process beside the intent model: encoder_process.py)."""
    found = guesses(text)
    language = detect_language(text, default).language
    return found, language, round(sentiment(text, language, vector), 4)
