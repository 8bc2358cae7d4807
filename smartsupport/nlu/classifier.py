"""The intent classifier: two views of a message, one calibrated probability.

- a logistic regression on the multilingual sentence embedding (meaning, paraphrase,
  other languages);
- a linear model on character and word n-gram TF-IDF (exact wording, product names,
  typos, domain jargon the encoder never saw).

Their log-probabilities are averaged, then divided by a temperature fitted on held-out
predictions so that "0.8" means right about 80% of the time. A message whose calibrated
top probability is under the out-of-scope threshold is out of scope; ``oos.py`` chooses
both numbers by cross-validation on the training data alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smartsupport.embeddings import get_embedder

EMBEDDING_WEIGHT = 0.5  # share of the embedding view in the averaged log-probability


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def _decision(model: Any, X: Any) -> np.ndarray:
    scores = model.decision_function(X)
    if scores.ndim == 1:  # two classes: sklearn returns one column
        scores = np.stack([-scores, scores], axis=1) / 2.0
    return scores


@dataclass
class Components:
    """The trained parts that produce raw (uncalibrated) scores."""

    vectorizer: Any
    embedding_model: Any
    text_model: Any
    classes: list[str]

    def log_scores(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        a = log_softmax(_decision(self.embedding_model, vectors))
        b = log_softmax(_decision(self.text_model, self.vectorizer.transform(texts)))
        return EMBEDDING_WEIGHT * a + (1.0 - EMBEDDING_WEIGHT) * b


def fit_components(vectors: np.ndarray, texts: list[str], labels: list[str]) -> Components:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[label] for label in labels])
    small = len(texts) < 2000
    vectorizer = FeatureUnion(
        [
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                    min_df=1 if small else 2, max_features=200_000, dtype=np.float32,
                ),
            ),
            (
                "words",
                TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
                    max_features=200_000, dtype=np.float32,
                ),
            ),
        ]
    )  # fmt: skip
    tfidf = vectorizer.fit_transform(texts)
    with warnings.catch_warnings():
        # A capped iteration count is a deliberate time budget, not a defect to report.
        warnings.simplefilter("ignore")
        embedding_model = LogisticRegression(C=30.0, max_iter=300, tol=1e-4).fit(vectors, y)
        text_model = LogisticRegression(C=30.0, max_iter=200, tol=1e-3).fit(tfidf, y)
    return Components(vectorizer, embedding_model, text_model, classes)


@dataclass(slots=True)
class Prediction:
    ranking: list[tuple[str, float]]  # (intent, calibrated probability), best first
    confidence: float
    out_of_scope: bool
    vector: np.ndarray | None = None


@dataclass
class IntentModel:
    components: Components
    temperature: float = 1.0
    oos_threshold: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return self.components.classes

    def probabilities(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        return softmax(self.components.log_scores(vectors, texts) / self.temperature)

    def predict_vectors(self, vectors: np.ndarray, texts: list[str], top: int = 5) -> list[Prediction]:
        probs = self.probabilities(vectors, texts)
        out: list[Prediction] = []
        for row, vector in zip(probs, vectors, strict=True):
            order = np.argsort(-row)[:top]
            ranking = [(self.classes[i], float(row[i])) for i in order]
            confidence = ranking[0][1]
            out.append(Prediction(ranking, confidence, confidence < self.oos_threshold, vector))
        return out

    def predict_one(self, text: str) -> Prediction:
        vectors = get_embedder().encode([text])
        return self.predict_vectors(vectors, [text])[0]
