"""Training an intent model from labelled texts, and storing it in a model directory.

    MODEL_DIR/arrays.npz     the trained parts as arrays (``model_arrays.py``)
    MODEL_DIR/meta.json      training hash, mode, sizes, timings, calibration, threshold

Loading reads arrays only: a server needs neither scikit-learn nor SciPy to answer. A model
directory of the previous format (``nlu-4``: ``model.joblib``, scikit-learn's pickled objects)
still loads, through scikit-learn; never point ``nlu eval`` at one from an untrusted source.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from smartsupport.errors import ConfigurationError
from smartsupport.nlu import model_arrays, oos
from smartsupport.nlu.classifier import (
    DEFAULT_PARAMS,
    DEFAULT_WEIGHTS,
    MODES,
    SMALL_DATA_GRID,
    Components,
    IntentModel,
    Params,
    fit_components,
    single_blas_thread,
)
from smartsupport.nlu.classifier import encode as encode_texts
from smartsupport.nlu.scope import ScopeScorer

MODEL_VERSION = "nlu-5"  # 5: arrays instead of pickled scikit-learn objects
PICKLED_VERSION = "nlu-4"  # fusion weights and the nearest-example view, in model.joblib
ENCODE_BATCH = 256
SMALL_DATA_ROWS = 1500  # below this, regularisation is chosen by cross-validation
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def training_hash(
    texts: list[str], labels: list[str], threshold: str | float = "auto", mode: str = "standard"
) -> str:
    digest = hashlib.sha256()
    digest.update(f"{MODEL_VERSION}|{get_embedder_name()}|{threshold}|{mode}".encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"\x00{label}\x01{text}".encode())
    return digest.hexdigest()


def get_embedder_name() -> str:
    from smartsupport.embeddings import MODEL_NAME

    return MODEL_NAME


def encode(
    texts: list[str], progress: Progress | None = None, mode: str = "standard"
) -> np.ndarray:
    if mode not in MODES:
        raise ConfigurationError(f"NLU mode {mode!r} is not one of {', '.join(MODES)}")
    parts = []
    for start in range(0, len(texts), ENCODE_BATCH):
        parts.append(encode_texts(texts[start : start + ENCODE_BATCH], mode))
        if progress is not None:
            progress("embedding", min(start + ENCODE_BATCH, len(texts)), len(texts))
    return np.concatenate(parts) if parts else encode_texts([], mode)


def cv_rounds(n_rows: int) -> int:
    # Small workspaces need more rounds for a stable threshold and cost little.
    return 6 if n_rows < 1500 else 3


def train(
    texts: list[str],
    labels: list[str],
    *,
    threshold: str | float = "auto",
    progress: Progress | None = None,
    mode: str = "standard",
) -> IntentModel:
    """Fit, calibrate and choose the out-of-scope threshold; see classifier.py and oos.py."""
    with single_blas_thread(training=True):
        return _train(texts, labels, threshold=threshold, progress=progress, mode=mode)


def _train(
    texts: list[str],
    labels: list[str],
    *,
    threshold: str | float,
    progress: Progress | None,
    mode: str,
) -> IntentModel:
    started, cpu_started = time.perf_counter(), time.process_time()
    vectors = encode(texts, progress, mode)
    rounds = cv_rounds(len(texts))
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("calibrating", done, rounds + 1)

    grid = SMALL_DATA_GRID if len(texts) < SMALL_DATA_ROWS else (DEFAULT_PARAMS,)
    best: tuple[float, Params, oos.HeldOut, float] | None = None
    for params in grid:
        # Same seed, so every candidate sees the same splits.
        held = oos.simulate(
            vectors,
            texts,
            labels,
            partial(fit_components, params=params),
            rounds=rounds,
            progress=step if params == grid[0] else None,
        )
        # Fusion weights first: they change the scores the temperature is fitted to.
        held = held.reweighted(oos.choose_weights(held))
        temperature = oos.fit_temperature(held)
        score = oos.best_mcc(held, temperature) if len(grid) > 1 else 0.0
        if best is None or score > best[0] + 1e-9:
            best = (score, params, held, temperature)
    assert best is not None
    _, params, held, temperature = best
    temperature = round(temperature, 4)  # as stored, so a loaded model predicts the same
    scope = oos.fit_scorer(held, temperature) if threshold == "auto" else None
    if scope is not None:
        chosen, source = scope.threshold, "cross-validation"
    elif threshold == "auto":
        # Nothing could be held out, so nothing says where out-of-scope starts: answer.
        chosen, source = 0.0, "too few examples to cross-validate"
    else:
        chosen, source = float(threshold), "configured"
    components = fit_components(vectors, texts, labels, params)
    if held.views:
        components.weights = held.weights
    else:  # nothing was held out: the previous engine's fixed weights
        components.weights = DEFAULT_WEIGHTS[3 if mode == "standard" else 4]
    if progress is not None:
        progress("calibrating", rounds + 1, rounds + 1)
    meta: dict[str, Any] = {
        "version": MODEL_VERSION,
        "embedder": get_embedder_name(),
        "hash": training_hash(texts, labels, threshold, mode),
        "mode": mode,
        "n_train": len(texts),
        "classes": components.classes,
        "params": {"C": params.C, "alpha": params.alpha},
        # (multilingual embedding, TF-IDF, nearest examples[, MiniLM]), by cross-validation
        "weights": list(components.weights),
        "temperature": temperature,
        "oos_threshold": chosen,
        # "cross-validation": ``chosen`` applies to the in-scope score of ``scope``;
        # otherwise to the calibrated top probability.
        "oos_threshold_source": source,
        "scope": scope.to_json() if scope is not None else None,
        "train_seconds": round(time.perf_counter() - started, 2),
        # CPU time of this process: on a busy machine wall time says more about the neighbours.
        "train_cpu_seconds": round(time.process_time() - cpu_started, 2),
    }
    return IntentModel(components, temperature, chosen, meta, scope)


def save(model: IntentModel, directory: Path) -> None:
    parts = model.components
    arrays, spec = model_arrays.to_arrays(
        parts.text_view, parts.embedding_model, parts.minilm_model, parts.examples
    )
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "arrays.npz.tmp", "wb") as out:  # np.savez would add ".npz"
        np.savez(out, allow_pickle=False, **arrays)
    (directory / "arrays.npz.tmp").replace(directory / "arrays.npz")
    meta = {**model.meta, "arrays": spec}
    (directory / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def load(directory: Path) -> IntentModel:
    meta_path = directory / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
    if meta is None or not any((directory / f).is_file() for f in ("arrays.npz", "model.joblib")):
        raise ConfigurationError(
            f"{directory}: not a model directory (expected meta.json and arrays.npz); "
            "create one with: smartsupport nlu train DATA.csv --out MODEL_DIR"
        )
    version = meta.get("version")
    if version == MODEL_VERSION:
        with np.load(directory / "arrays.npz") as stored:
            text, embedding, minilm, examples = model_arrays.from_arrays(stored, meta["arrays"])
        components = Components(
            None, embedding, None, meta["classes"], examples, minilm, tuple(meta["weights"]),
            _text_view=text,
        )  # fmt: skip
    elif version == PICKLED_VERSION:
        import joblib

        components = joblib.load(directory / "model.joblib")
    else:
        raise ConfigurationError(
            f"{directory}: model format {version!r} is not {MODEL_VERSION!r}; retrain it"
        )
    scope = ScopeScorer.from_json(meta["scope"]) if meta.get("scope") else None
    return IntentModel(
        components,
        meta["temperature"],
        meta["oos_threshold"],
        meta,
        scope,
        str(directory.resolve()),
    )
