"""Fit the multilingual sentiment head shipped in ``data/sentiment_head.npz`` (a dev tool).

    python -m smartsupport.nlu.sentiment_fit ../shared/datasets

Targets come from VADER, which is English-only: its human-rated lexicon (each word's mean
valence, scaled to [-1, 1]) and its compound score of English customer queries (BANKING77 and
HWU64 training texts, both CC BY 4.0). A ridge regression maps the multilingual sentence
embedding to that score; because the encoder aligns languages, the head then scores Spanish,
French, German and Portuguese without any labelled data in those languages. Only the 512
weights and an intercept are shipped.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import numpy as np

from smartsupport.embeddings import get_embedder
from smartsupport.nlu.sentiment import HEAD_PATH

MAX_SENTENCES = 8000


def _lexicon() -> tuple[list[str], list[float]]:
    import vaderSentiment

    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    words, scores = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        # Skip emoticons such as ":-)": the encoder has no useful vector for them.
        if len(parts) >= 2 and parts[0].isalpha():
            words.append(parts[0])
            scores.append(max(-1.0, min(1.0, float(parts[1]) / 3.0)))
    return words, scores


def _sentences(datasets: Path) -> list[str]:
    texts: list[str] = []
    for rel in ("banking77/train.csv", "hwu64/train.csv"):
        with open(datasets / rel, encoding="utf-8", newline="") as handle:
            texts.extend(row["text"] for row in csv.DictReader(handle))
    random.Random(0).shuffle(texts)
    return texts[:MAX_SENTENCES]


def fit(datasets: Path, alpha: float = 1.0) -> None:
    from sklearn.linear_model import Ridge
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    words, word_scores = _lexicon()
    sentences = _sentences(datasets)
    sentence_scores = [vader.polarity_scores(s)["compound"] for s in sentences]
    embedder = get_embedder()
    X = embedder.encode(words + sentences)
    y = np.asarray(word_scores + sentence_scores, dtype=np.float32)
    model = Ridge(alpha=alpha).fit(X, y)
    HEAD_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez(HEAD_PATH, coef=model.coef_.astype(np.float32), intercept=np.float32(model.intercept_))
    print(f"fitted on {len(words)} lexicon words and {len(sentences)} sentences -> {HEAD_PATH}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", type=Path)
    fit(parser.parse_args().datasets)
