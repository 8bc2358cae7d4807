"""The intent classifier: two views of a message, one calibrated probability.

- a logistic regression on the multilingual sentence embedding (meaning, paraphrase,
  other languages);
- a linear model on character and word n-gram TF-IDF (exact wording, product names,
  typos, domain jargon the encoder never saw).

On BANKING77 each view alone scores about 91-92%; the average of their log-probabilities
about 93.5%, because they fail on different messages.

The "accurate" mode (``pip install 'smartsupport[accurate]'``, English workspaces) adds a
third view, a logistic regression on all-MiniLM-L6-v2 (``minilm.py``), and weighs the three
equally by default (MiniLM may get up to 2/3 when cross-validation clearly says so): 94.3% on
BANKING77 and +5 points with ten examples per intent, at about twice the
CPU per message. Its vectors ride in the same matrix, after the multilingual embedding's
``USE_DIM`` columns.

A further view scores each intent by its nearest training example (cosine in the embedding
space, as example-based intent models do); it reuses the similarities the out-of-scope scorer
needs anyway. The views' log-probabilities are summed with weights (``fuse``): the fixed
0.5 / 0.5 / 0 unless cross-validation on the training data clearly prefers another candidate
of ``WEIGHT_GRID`` (``oos.choose_weights``). The sum is divided by a temperature fitted on
held-out predictions so that "0.8" means right about 80% of the time.
The out-of-scope decision adds the distance to the nearest training examples (``scope.py``):
a message whose in-scope score is under the threshold is out of scope. ``oos.py`` fits the
temperature, the scorer and its threshold by cross-validation on the training data alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from smartsupport.embeddings import get_embedder
from smartsupport.nlu.model_arrays import TextView
from smartsupport.nlu.scope import ExampleIndex, ScopeScorer, features

EMBEDDING_WEIGHT = 0.5  # share of the embedding view in the averaged log-probability
MODES = ("standard", "accurate")
USE_DIM = 512  # columns of the multilingual embedding; the accurate mode's MiniLM follows


def encode(texts: list[str], mode: str = "standard") -> np.ndarray:
    """The model input for ``texts``: the multilingual embedding, and in the accurate mode
    MiniLM's vector beside it."""
    vectors = get_embedder().encode(texts)
    if mode == "standard":
        return vectors
    from smartsupport.nlu.minilm import get_minilm

    return np.concatenate([vectors, get_minilm().encode(texts)], axis=1)


@lru_cache(maxsize=2)
def _blas_controller(training: bool) -> Any:
    # One per process and purpose: BLAS thread pools are process-wide, and finding them
    # scans the loaded libraries. So training loads first every library whose pool it must
    # hold: SciPy ships its own OpenBLAS (L-BFGS-B calls it), and a controller made before
    # SciPy was imported left that pool at every core, busy-waiting: logistic fits ran 5-13x
    # slower. Serving multiplies with NumPy's alone, and does not import SciPy for it.
    if training:
        import scipy.optimize  # noqa: F401
        import sklearn.linear_model  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_blas_thread(training: bool = False) -> Any:
    """A context that keeps BLAS on one thread. Our matrices are small; a BLAS thread pool
    busy-waits between calls and made lbfgs fits 10-20x slower on this 2-core machine."""
    return _blas_controller(training).limit(limits=1, user_api="blas")


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


def _linear(model: Any, x: np.ndarray) -> np.ndarray:
    """``decision_function`` of a fitted linear model, without its input validation."""
    z = x @ model.coef_.T + model.intercept_
    return np.concatenate([-z, z], axis=1) / 2.0 if z.shape[1] == 1 else z


KNN_TEMPERATURE = 0.05  # cosine gaps between intents' nearest examples are a few hundredths
# One weight per view, in ``Components.views`` order: (multilingual embedding, TF-IDF, nearest
# examples) and in the accurate mode MiniLM.
FusionWeights = tuple[float, ...]
_THIRD = round(1.0 / 3.0, 4)


def _accurate(minilm: float, knn: float) -> FusionWeights:
    """Accurate-mode weights: MiniLM's share, the other two model views split the rest."""
    rest = round((1.0 - minilm) / 2.0, 4)
    return (rest, rest, knn, minilm)


DEFAULT_WEIGHTS: dict[int, FusionWeights] = {
    3: (EMBEDDING_WEIGHT, 1.0 - EMBEDDING_WEIGHT, 0.0),
    4: _accurate(_THIRD, 0.0),  # the previous engine's equal thirds
}
_KNN = (0.0, 0.125, 0.25, 0.5)
# Candidates tried by cross-validation at training time (``oos.choose_weights``), by the
# number of views.
WEIGHT_GRID: dict[int, tuple[FusionWeights, ...]] = {
    3: tuple((w, round(1.0 - w, 2), k) for w in (0.4, 0.5, 0.6, 0.7) for k in _KNN),
    4: tuple(_accurate(m, k) for m in (_THIRD, 0.5, round(2.0 / 3.0, 4)) for k in _KNN),
}


def fuse(views: np.ndarray, weights: FusionWeights) -> np.ndarray:
    """The weighted sum of the views' log-probabilities (``Components.views`` order)."""
    return np.tensordot(np.asarray(weights, dtype=views.dtype), views, axes=1)


@dataclass
class Components:
    """The trained parts that produce raw (uncalibrated) scores: scikit-learn's fitted
    objects after training, ``model_arrays``' once loaded from a model directory (then
    ``vectorizer`` and ``text_model`` are None and ``text_view`` does their work)."""

    vectorizer: Any
    embedding_model: Any
    text_model: Any
    classes: list[str]
    examples: ExampleIndex
    minilm_model: Any = None  # the accurate mode's third view
    weights: FusionWeights = DEFAULT_WEIGHTS[3]
    _text_view: TextView | None = field(default=None, repr=False, compare=False)

    @property
    def text_view(self) -> TextView:
        if self._text_view is None:
            self._text_view = TextView.from_sklearn(self.vectorizer, self.text_model)
        return self._text_view

    def views(self, vectors: np.ndarray, texts: list[str], nearest: np.ndarray) -> np.ndarray:
        """(views, n, intents) log-probabilities: the multilingual embedding, TF-IDF, the
        nearest examples (``nearest`` is ``examples.nearest(vectors)``) and, in the accurate
        mode, MiniLM."""
        if len(texts) == 1 or self.vectorizer is None:
            a = log_softmax(_linear(self.embedding_model, vectors[:, :USE_DIM]))
            # Without scikit-learn's per-call overhead (input validation and sparse-matrix
            # assembly cost more than the arithmetic for one message).
            # np.array, not np.stack: a quarter of the time for a few rows
            b = log_softmax(np.array([self.text_view.decision(text) for text in texts]))
        else:
            a = log_softmax(_decision(self.embedding_model, vectors[:, :USE_DIM]))
            b = log_softmax(_decision(self.text_model, self.vectorizer.transform(texts)))
        # Example-based scoring (as ConvFiT and kNN intent models do): a softmax over each
        # intent's nearest-example cosine, averaged over the embeddings' spaces.
        c = log_softmax(np.asarray(nearest).mean(axis=0) / KNN_TEMPERATURE)
        if self.minilm_model is None:
            return np.array([a, b, c])
        m = log_softmax(_linear(self.minilm_model, vectors[:, USE_DIM:]))
        return np.array([a, b, c, m])

    def scores(self, vectors: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The fused log-scores and the nearest-example similarities (for ``scope``)."""
        nearest = self.examples.nearest(vectors)
        return fuse(self.views(vectors, texts, nearest), self.weights), nearest

    def log_scores(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        return self.scores(vectors, texts)[0]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self.vectorizer is not None:
            state["_text_view"] = None  # derived data; rebuilt on first use
        return state


@dataclass(frozen=True)
class Params:
    """Regularisation: C of the embedding model, alpha of the text model (larger alpha and
    smaller C mean smoother, less confident models)."""

    C: float = 30.0
    alpha: float = 1e-5


DEFAULT_PARAMS = Params()
# Tried by cross-validation when there are few examples (see training.py): with a dozen
# examples per intent the best amount of smoothing varies a lot between workspaces.
SMALL_DATA_GRID = (Params(30.0, 1e-5), Params(30.0, 1e-4), Params(3.0, 1e-5), Params(3.0, 1e-4))


def fit_components(
    vectors: np.ndarray, texts: list[str], labels: list[str], params: Params = DEFAULT_PARAMS
) -> Components:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
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
        embedding_model = LogisticRegression(C=params.C, max_iter=300, tol=1e-4).fit(
            vectors[:, :USE_DIM], y
        )
        minilm_model = None
        if vectors.shape[1] > USE_DIM:
            minilm_model = LogisticRegression(C=params.C, max_iter=300, tol=1e-4).fit(
                vectors[:, USE_DIM:], y
            )
        # SGD with log loss: as accurate as lbfgs here and several times faster on ~10^5
        # sparse features x ~10^2 intents; one-vs-rest, so the two cores share the intents.
        text_model = SGDClassifier(
            loss="log_loss", alpha=params.alpha, max_iter=30, tol=1e-4, random_state=0, n_jobs=2
        ).fit(tfidf, y)
    # Nearest examples in each embedding's own space (cosines do not add across spaces).
    blocks = [(0, USE_DIM)] + ([(USE_DIM, vectors.shape[1])] if minilm_model is not None else [])
    examples = ExampleIndex(vectors, labels, classes, blocks)
    return Components(vectorizer, embedding_model, text_model, classes, examples, minilm_model)


@dataclass(slots=True)
class Prediction:
    ranking: list[tuple[str, float]]  # (intent, calibrated probability), best first
    confidence: float
    out_of_scope: bool
    vector: np.ndarray | None = None
    in_scope_score: float | None = None  # the scorer's output, when the model has one


@dataclass
class IntentModel:
    components: Components
    temperature: float = 1.0
    oos_threshold: float = 0.0  # on the top probability; used when there is no scorer
    meta: dict[str, Any] = field(default_factory=dict)
    scope: ScopeScorer | None = None
    directory: str | None = None  # where it was loaded from (``training.load``)

    @property
    def classes(self) -> list[str]:
        return self.components.classes

    def probabilities(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        return self._probabilities(vectors, texts)[0]

    def _probabilities(
        self, vectors: np.ndarray, texts: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        with single_blas_thread():
            log_scores, nearest = self.components.scores(vectors, texts)
            return softmax(log_scores / self.temperature), nearest

    def predict_vectors(
        self, vectors: np.ndarray, texts: list[str], top: int = 5
    ) -> list[Prediction]:
        probs, nearest = self._probabilities(vectors, texts)
        scores: list[float | None] = [None] * len(probs)
        if self.scope is not None:
            matrix, _ = features(probs, nearest)
            scores = [float(s) for s in self.scope.score(matrix)]
        out: list[Prediction] = []
        for row, vector, score in zip(probs, vectors, scores, strict=True):
            order = np.argsort(-row)[:top]
            ranking = [(self.classes[i], float(row[i])) for i in order]
            confidence = ranking[0][1]
            if score is None:
                oos = confidence < self.oos_threshold
            else:
                oos = score < self.scope.threshold  # type: ignore[union-attr]
            out.append(Prediction(ranking, confidence, oos, vector, score))
        return out

    @property
    def mode(self) -> str:
        return str(self.meta.get("mode", "standard"))

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode(texts, self.mode)

    def predict_one(self, text: str) -> Prediction:
        return self.predict_vectors(self.encode([text]), [text])[0]
