"""Is this message one of our intents at all? A learned in-scope score.

The classifier's top probability alone is a weak out-of-scope signal: a softmax spreads its
mass over the intents it knows, so "ok thanks", "do you sell sofas" and a message in a
language nobody wrote examples in can all come out confident. Two more signals help:

- how close the message is to the nearest training example of the intent it was given, and
  to any training example at all (cosine in the sentence-embedding space): nonsense and
  other topics are far from everything;
- how the probability is spread: the margin between the first and second intent, and the
  entropy of the whole distribution.

A small logistic regression weighs these five features (seven in the accurate mode, where
the nearest-example similarities are also taken in MiniLM's space). It is fitted on the out-of-fold
predictions of ``oos.simulate`` (intents hidden from training play the out-of-scope
messages) to predict "the top intent is right", so it learns from the workspace's own data
how far a real paraphrase may stray. Its threshold is chosen on the same rounds by the MCC
rule in ``oos``. Measured on HINT3, on BANKING77 and HWU64 with a quarter of the intents
held out, and on BANKING77 against HWU64 queries, it beat the probability threshold on every
one of them (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FEATURES = ("log_top_probability", "margin", "nearest_same_intent", "nearest_any", "entropy")
Block = tuple[int, int]  # the columns of one embedding in the model's input matrix


def feature_names(blocks: int) -> tuple[str, ...]:
    """``FEATURES``, then the nearest-example pair of each further embedding."""
    extra = [f"{name}_{b + 1}" for b in range(1, blocks) for name in FEATURES[2:4]]
    return FEATURES + tuple(extra)


class ExampleIndex:
    """Training vectors grouped by intent, answering "how close is the nearest example of
    each intent" with one matrix product per embedding (about 1 ms for 10,000 examples)."""

    def __init__(
        self,
        vectors: np.ndarray,
        labels: list[str],
        classes: list[str],
        blocks: list[Block] | None = None,
    ) -> None:
        index = {c: k for k, c in enumerate(classes)}
        codes = np.asarray([index[label] for label in labels], dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        self.blocks = blocks or [(0, vectors.shape[1])]
        self.vectors = [
            np.ascontiguousarray(vectors[order, a:b], dtype=np.float32) for a, b in self.blocks
        ]
        counts = np.bincount(codes, minlength=len(classes))
        if (counts == 0).any():
            raise ValueError("every intent needs at least one training example")
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    @classmethod
    def from_arrays(
        cls, vectors: list[np.ndarray], starts: np.ndarray, blocks: list[Block]
    ) -> ExampleIndex:
        """The index as ``model_arrays`` stored it: each block's vectors, grouped by intent,
        and where each intent's group starts."""
        index = cls.__new__(cls)
        index.blocks, index.vectors, index.starts = blocks, vectors, starts
        return index

    def nearest(self, queries: np.ndarray) -> np.ndarray:
        """(embeddings, n queries, n intents): the best cosine similarity to each intent's
        examples, in each embedding's space."""
        queries = np.asarray(queries, dtype=np.float32)
        return np.stack(
            [
                np.maximum.reduceat(queries[:, a:b] @ vectors.T, self.starts, axis=1)
                for (a, b), vectors in zip(self.blocks, self.vectors, strict=True)
            ]
        )


def features(probabilities: np.ndarray, nearest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scorer's inputs for each row (``feature_names`` order), and each row's top intent.
    ``nearest`` is ``ExampleIndex.nearest``'s output (a 2-D array counts as one embedding)."""
    if nearest.ndim == 2:
        nearest = nearest[None]
    rows = np.arange(len(probabilities))
    order = np.argsort(-probabilities, axis=1)
    top = order[:, 0]
    first = probabilities[rows, top]
    second = probabilities[rows, order[:, 1]] if probabilities.shape[1] > 1 else 0.0 * first
    k = max(probabilities.shape[1], 2)
    entropy = -(probabilities * np.log(probabilities + 1e-12)).sum(axis=1) / np.log(k)
    columns = [np.log(first + 1e-12), first - second, nearest[0, rows, top],
               nearest[0].max(axis=1), entropy]  # fmt: skip
    for more in nearest[1:]:
        columns += [more[rows, top], more.max(axis=1)]
    return np.stack(columns, axis=1), top


@dataclass(frozen=True)
class ScopeScorer:
    """Logistic weights over ``FEATURES`` and the threshold on the resulting probability."""

    coef: tuple[float, ...]
    intercept: float
    threshold: float

    def score(self, matrix: np.ndarray) -> np.ndarray:
        """The probability that each row's top intent is right (in scope and correct)."""
        z = matrix @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(feature_names(1 + (len(self.coef) - len(FEATURES)) // 2)),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScopeScorer:
        names = tuple(data.get("features", ()))
        expected = feature_names(1 + (len(names) - len(FEATURES)) // 2)
        if names != expected or len(data["coef"]) != len(names):
            raise ValueError(f"in-scope scorer features {list(names)} are not {list(expected)}")
        return cls(tuple(float(c) for c in data["coef"]), float(data["intercept"]),
                   float(data["threshold"]))  # fmt: skip


def fit_weights(matrices: list[np.ndarray], correct: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Logistic regression of "top intent right" on the features, both outcomes weighted
    equally (see ``oos``: we do not know a deployment's real out-of-scope rate)."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate(matrices)
    y = np.concatenate(correct)
    if len(set(y.tolist())) < 2:
        # Every held-out row right (or every one wrong): no contrast to learn from, so lean
        # on the top probability alone.
        return np.eye(x.shape[1])[0], 0.0
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(x, y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])
