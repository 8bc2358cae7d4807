"""The intent model's trained parts as plain arrays: what serving needs, without scikit-learn.

scikit-learn fits the model (``classifier.fit_components``); a server only multiplies. Its
fitted objects unpickle only with scikit-learn and SciPy imported, 0.7 s of a 3.4 s start, so
a model directory holds the parts as arrays instead (``training.save``):

    arrays.npz    the linear models' coefficients and intercepts, the text view's vocabularies
                  and idf, the nearest-example index
    meta.json     ``spec``: the text view's analyzers, the index's column blocks; and the rest

``TextView`` is TF-IDF (sublinear tf, idf, unit length per analyzer) and the text model's
linear scores for one text at a time, the grams cut by ``ngrams.py``: the same scores as
scikit-learn's ``transform`` and ``decision_function`` (``tests/test_nlu_model_arrays.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smartsupport.ngrams import WORD_TOKEN, char_wb_grams, word_grams
from smartsupport.nlu.scope import ExampleIndex

ANALYZERS = {"char_wb": char_wb_grams, "word": word_grams}
SEPARATOR = "\n"  # between a vocabulary's grams: no gram holds a line break (ngrams.py)


class Linear:
    """A fitted linear model's scores: ``x @ coef.T + intercept``."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef_, self.intercept_ = coef, intercept


class TextView:
    """The text view of the intent model for one text: TF-IDF, then the linear scores."""

    def __init__(
        self,
        analyzers: list[tuple[str, int, int]],
        vocabularies: list[list[str]],
        idfs: list[np.ndarray],
        coef: np.ndarray,  # features x classes
        intercept: np.ndarray,
    ) -> None:
        self.analyzers = analyzers
        self.vocabularies = vocabularies  # kept for ``arrays``; the dicts below serve
        self.parts = []
        offset = 0
        for (kind, low, high), vocabulary, idf in zip(analyzers, vocabularies, idfs, strict=True):
            lookup = dict(zip(vocabulary, range(len(vocabulary)), strict=True))
            self.parts.append((ANALYZERS[kind], low, high, lookup, idf, offset))
            offset += len(vocabulary)
        self.idfs = idfs
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)

    @classmethod
    def from_sklearn(cls, union: Any, model: Any) -> TextView:
        """From the fitted ``FeatureUnion`` of ``TfidfVectorizer`` and the linear model."""
        analyzers, vocabularies, idfs = [], [], []
        for name, vectorizer in union.transformer_list:
            kind = vectorizer.analyzer
            if kind not in ANALYZERS or not vectorizer.lowercase or vectorizer.stop_words:
                raise ValueError(f"text view {name}: only lower-cased char_wb or word n-grams")
            if kind == "word" and vectorizer.token_pattern != WORD_TOKEN:
                raise ValueError(f"text view {name}: word tokens must be {WORD_TOKEN!r}")
            if not (vectorizer.sublinear_tf and vectorizer.use_idf and vectorizer.norm == "l2"):
                raise ValueError(f"text view {name}: sublinear tf, idf and l2 rows expected")
            vocabulary = [""] * len(vectorizer.vocabulary_)
            for gram, column in vectorizer.vocabulary_.items():
                vocabulary[column] = gram
            analyzers.append((kind, *vectorizer.ngram_range))
            vocabularies.append(vocabulary)
            idfs.append(np.asarray(vectorizer.idf_))
        return cls(analyzers, vocabularies, idfs, model.coef_.T, model.intercept_)

    def decision(self, text: str) -> np.ndarray:
        """The text model's score of each class for ``text`` (sklearn's decision_function)."""
        text = text.lower()
        scores = self.intercept.copy()
        for cut, low, high, lookup, idf, offset in self.parts:
            counts: dict[int, int] = {}
            for gram in cut(text, low, high):
                j = lookup.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
            weights = tf * idf[index]
            weights /= np.linalg.norm(weights)
            scores += weights.astype(np.float32) @ self.coef[index + offset]
        if scores.shape[0] == 1:
            return np.concatenate([-scores, scores]) / 2.0
        return scores


def to_arrays(
    text: TextView, embedding: Any, minilm: Any, examples: ExampleIndex
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(the arrays for ``arrays.npz``, the spec for meta.json) of a model's parts."""
    arrays: dict[str, np.ndarray] = {
        "embedding_coef": np.asarray(embedding.coef_),
        "embedding_intercept": np.asarray(embedding.intercept_),
        "text_coef": text.coef,
        "text_intercept": text.intercept,
        "example_starts": examples.starts,
    }
    if minilm is not None:
        arrays["minilm_coef"] = np.asarray(minilm.coef_)
        arrays["minilm_intercept"] = np.asarray(minilm.intercept_)
    for k, (vocabulary, idf) in enumerate(zip(text.vocabularies, text.idfs, strict=True)):
        arrays[f"vocabulary_{k}"] = np.asarray(SEPARATOR.join(vocabulary))
        arrays[f"idf_{k}"] = idf
    for k, vectors in enumerate(examples.vectors):
        arrays[f"examples_{k}"] = vectors
    spec = {
        "analyzers": [list(a) for a in text.analyzers],
        "example_blocks": [list(b) for b in examples.blocks],
    }
    return arrays, spec


def from_arrays(
    arrays: Any, spec: dict[str, Any]
) -> tuple[TextView, Linear, Linear | None, ExampleIndex]:
    """The parts ``to_arrays`` stored: (text view, embedding model, MiniLM model, examples)."""
    analyzers = [(str(kind), int(low), int(high)) for kind, low, high in spec["analyzers"]]
    stored = range(len(analyzers))
    vocabularies = [arrays[f"vocabulary_{k}"].item().split(SEPARATOR) for k in stored]
    idfs = [arrays[f"idf_{k}"] for k in stored]
    text = TextView(analyzers, vocabularies, idfs, arrays["text_coef"], arrays["text_intercept"])
    embedding = Linear(arrays["embedding_coef"], arrays["embedding_intercept"])
    minilm = None
    if "minilm_coef" in arrays:
        minilm = Linear(arrays["minilm_coef"], arrays["minilm_intercept"])
    blocks = [(int(a), int(b)) for a, b in spec["example_blocks"]]
    vectors = [arrays[f"examples_{k}"] for k in range(len(blocks))]
    examples = ExampleIndex.from_arrays(vectors, arrays["example_starts"], blocks)
    return text, embedding, minilm, examples
