"""Calibration and the out-of-scope threshold, chosen from the training data alone.

A workspace's training data has no examples of "everything else", so we simulate it: in each
round a random quarter of the intents is hidden from training and their examples play the
out-of-scope queries, while held-out examples of the other intents play the in-scope ones.
From those out-of-fold predictions we fit

1. a temperature for the averaged log-probabilities (minimum negative log-likelihood on the
   in-scope rows), so that confidence is calibrated;
2. the in-scope scorer (``scope.py``): weights over probability and nearest-example
   features, predicting "the top intent is right";
3. the threshold on that score for the "intent or out-of-scope" decision, from the Matthews
   correlation curve over candidate thresholds (see ``choose_threshold``), with in-scope and
   out-of-scope rows weighted equally (we do not know a deployment's real out-of-scope rate,
   so we assume neither dominates).

Nothing here looks at any test set: the choice is the same whatever the model is evaluated on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from smartsupport.nlu.classifier import (
    DEFAULT_WEIGHTS,
    WEIGHT_GRID,
    Components,
    FusionWeights,
    fuse,
    log_softmax,
)
from smartsupport.nlu.scope import ScopeScorer, features, fit_weights

HOLDOUT_SHARE = 0.25
MAX_CV_TRAIN = 3000  # rows per round: keeps cross-validation within the training time budget


@dataclass(slots=True)
class HeldOut:
    """Out-of-fold log-scores, and each row's similarity to the nearest training example of
    each intent of its round (``ExampleIndex.nearest``); ``gold`` is -1 for a simulated
    out-of-scope row. ``views`` keeps each view's log-probabilities (``Components.views``), so
    that fusion weights can be chosen without refitting; ``log_scores`` are fused with
    ``weights``."""

    log_scores: list[np.ndarray]
    gold: list[np.ndarray]
    nearest: list[np.ndarray]
    views: list[np.ndarray] = field(default_factory=list)
    weights: FusionWeights = DEFAULT_WEIGHTS[3]

    def reweighted(self, weights: FusionWeights) -> HeldOut:
        scores = [fuse(views, weights) for views in self.views]
        return HeldOut(scores, self.gold, self.nearest, self.views, weights)


def simulate(
    vectors: np.ndarray,
    texts: list[str],
    labels: list[str],
    fit: Callable[[np.ndarray, list[str], list[str]], Components],
    *,
    rounds: int,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
) -> HeldOut:
    rng = random.Random(seed)
    classes = sorted(set(labels))
    by_class: dict[str, list[int]] = {c: [] for c in classes}
    for i, label in enumerate(labels):
        by_class[label].append(i)
    held = HeldOut([], [], [])
    n_hidden = max(1, round(len(classes) * HOLDOUT_SHARE)) if len(classes) >= 3 else 0
    for _ in range(rounds):
        hidden = set(rng.sample(classes, n_hidden))
        train_idx: list[int] = []
        val_idx: list[int] = []
        oos_idx: list[int] = []
        for c in classes:
            rows = by_class[c][:]
            rng.shuffle(rows)
            if c in hidden:
                oos_idx.extend(rows)
            elif len(rows) >= 2:
                # Hold out a neighbourhood, not a random sample: a random sample leaves each
                # held-out example's paraphrases in training, which makes held-out rows look
                # far easier (and the model far surer) than real customer messages.
                seed_row = rows[0]
                order = np.argsort(-(vectors[rows] @ vectors[seed_row]))
                cut = max(1, len(rows) // 4)
                val_idx.extend(rows[k] for k in order[:cut])
                train_idx.extend(rows[k] for k in order[cut:])
            else:
                train_idx.extend(rows)
        if len(train_idx) > MAX_CV_TRAIN:
            train_idx = rng.sample(train_idx, MAX_CV_TRAIN)
        if len({labels[i] for i in train_idx}) < 2 or not val_idx:
            continue
        # Equal numbers of in-scope and out-of-scope rows (see the module docstring).
        size = min(len(val_idx), max(len(oos_idx), 1), 1500)
        val_idx = rng.sample(val_idx, min(len(val_idx), size))
        oos_idx = rng.sample(oos_idx, min(len(oos_idx), size))
        model = fit(
            vectors[train_idx], [texts[i] for i in train_idx], [labels[i] for i in train_idx]
        )
        index = {c: k for k, c in enumerate(model.classes)}
        rows = val_idx + oos_idx
        nearest = model.examples.nearest(vectors[rows])
        views = model.views(vectors[rows], [texts[i] for i in rows], nearest)
        gold = np.asarray([index.get(labels[i], -1) for i in val_idx] + [-1] * len(oos_idx))
        held.weights = DEFAULT_WEIGHTS[len(views)]
        held.views.append(views)
        held.log_scores.append(fuse(views, held.weights))
        held.gold.append(gold)
        held.nearest.append(nearest)
        if progress is not None:
            progress()
    return held


CLEAR_GAIN = 2.0  # standard errors a candidate must beat the default by


def choose_weights(held: HeldOut) -> FusionWeights:
    """The fusion weights (``WEIGHT_GRID``) that get the most held-out in-scope rows right,
    but only when their gain over the default (the previous engine's fixed weights) is clear:
    more than ``CLEAR_GAIN`` standard errors of the per-round difference. Otherwise the default.

    Why so cautious: simulated rounds are a weak guide to real traffic. Picking the plain
    arg-max gained 1-2 points on BANKING77 with 10 examples per intent, but lost 0.01-0.08
    MCC on all three HINT3 bots, whose real queries are noisier than any held-out example
    (docs/benchmarks.md, "Intent understanding (issue 12)").
    """
    if len(held.views) < 2:
        return held.weights
    default = DEFAULT_WEIGHTS[len(held.views[0])]

    def per_round(weights: FusionWeights) -> np.ndarray:
        out = []
        for views, gold in zip(held.views, held.gold, strict=True):
            mask = gold >= 0
            right = fuse(views[:, mask], weights).argmax(axis=1) == gold[mask]
            out.append(float(right.mean()) if mask.any() else 0.0)
        return np.asarray(out)

    base = per_round(default)
    best, best_gain = default, 0.0
    for weights in WEIGHT_GRID[len(default)]:
        gain = per_round(weights) - base
        stderr = float(gain.std(ddof=1)) / np.sqrt(len(gain))
        if gain.mean() > CLEAR_GAIN * stderr and gain.mean() > best_gain:
            best, best_gain = weights, float(gain.mean())
    return best


def fit_temperature(held: HeldOut) -> float:
    """The temperature minimising the in-scope negative log-likelihood (grid search)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.05), np.log(5.0), 60)):
        total, count = 0.0, 0
        for scores, gold in zip(held.log_scores, held.gold, strict=True):
            mask = gold >= 0
            if not mask.any():
                continue
            logp = log_softmax(scores[mask] / t)
            total -= float(logp[np.arange(mask.sum()), gold[mask]].sum())
            count += int(mask.sum())
        if count and total / count < best_nll:
            best_t, best_nll = float(t), total / count
    return best_t


_GRID = np.linspace(0.0, 0.99, 100)
Weights = tuple[np.ndarray, float]


def _decisions(
    held: HeldOut, temperature: float, weights: Weights | None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per round: (gold, top intent, the score a threshold applies to). The score is the
    calibrated top probability, or with ``weights`` the in-scope scorer's output."""
    out = []
    for scores, gold, nearest in zip(held.log_scores, held.gold, held.nearest, strict=True):
        if not (gold < 0).any() or not (gold >= 0).any():
            continue
        probs = np.exp(log_softmax(scores / temperature))
        if weights is None:
            out.append((gold, probs.argmax(axis=1), probs.max(axis=1)))
        else:
            matrix, top = features(probs, nearest)
            out.append((gold, top, ScopeScorer(tuple(weights[0]), weights[1], 0.0).score(matrix)))
    return out


def mcc_curves(held: HeldOut, temperature: float, weights: Weights | None = None) -> np.ndarray:
    """Per round (rows), the multi-class MCC (out-of-scope as one more class) at each
    candidate threshold in ``_GRID`` (columns)."""
    curves = [
        [_mcc(gold, np.where(score >= t, pred, -1)) for t in _GRID]
        for gold, pred, score in _decisions(held, temperature, weights)
    ]
    return np.asarray(curves).reshape(len(curves), len(_GRID))


def fit_scorer(held: HeldOut, temperature: float) -> ScopeScorer | None:
    """The in-scope scorer's weights and threshold, both from the simulated rounds; None when
    there were no rounds (a single example per intent leaves nothing to hold out)."""
    matrices, correct = [], []
    for scores, gold, nearest in zip(held.log_scores, held.gold, held.nearest, strict=True):
        matrix, top = features(np.exp(log_softmax(scores / temperature)), nearest)
        matrices.append(matrix)
        correct.append(top == gold)
    if not matrices:
        return None
    coef, intercept = fit_weights(matrices, correct)
    threshold = choose_threshold(held, temperature, (coef, intercept))
    return ScopeScorer(tuple(float(c) for c in coef), intercept, threshold)


def _mcc(gold: np.ndarray, pred: np.ndarray) -> float:
    """Multi-class Matthews correlation (Gorodkin's R_K, as scikit-learn computes it) for
    labels in {-1, 0, ..., K-1}; scikit-learn's own is ~100x slower on these small arrays."""
    k = int(max(gold.max(), pred.max())) + 2
    true_counts = np.bincount(gold + 1, minlength=k).astype(np.float64)
    pred_counts = np.bincount(pred + 1, minlength=k).astype(np.float64)
    correct = float((gold == pred).sum())
    total = float(len(gold))
    cov_ytyp = correct * total - true_counts @ pred_counts
    cov_ypyp = total * total - pred_counts @ pred_counts
    cov_ytyt = total * total - true_counts @ true_counts
    if cov_ypyp * cov_ytyt == 0:
        return 0.0
    return float(cov_ytyp / np.sqrt(cov_ytyt * cov_ypyp))


def best_mcc(held: HeldOut, temperature: float) -> float:
    table = mcc_curves(held, temperature)
    return float(table.mean(axis=0).max()) if len(table) else 0.0


def choose_threshold(held: HeldOut, temperature: float, weights: Weights | None = None) -> float:
    """The threshold (on the top probability, or on the in-scope score with ``weights``), by
    the one-standard-error rule on the MCC curve.

    The curve is flat near its top, so instead of its arg-max (which drifts high, answering
    "I don't understand" to real customers whose wording is further from the examples than
    any held-out example is) we take the lowest threshold whose mean MCC over the rounds is
    within one standard error of the best: as good on the evidence, and errs on the side of
    answering.
    """
    table = mcc_curves(held, temperature, weights)
    if not len(table):
        return 0.0
    mean = table.mean(axis=0)
    best = int(mean.argmax())
    stderr = table[:, best].std(ddof=1) / np.sqrt(len(table)) if len(table) > 1 else 0.0
    eligible = np.nonzero(mean >= mean[best] - stderr)[0]
    return round(float(_GRID[eligible.min()]), 4)
