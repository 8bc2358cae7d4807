"""Calibration and the out-of-scope threshold, chosen from the training data alone.

A workspace's training data has no examples of "everything else", so we simulate it: in each
round a random quarter of the intents is hidden from training and their examples play the
out-of-scope queries, while held-out examples of the other intents play the in-scope ones.
From those out-of-fold predictions we fit

1. a temperature for the averaged log-probabilities (minimum negative log-likelihood on the
   in-scope rows), so that confidence is calibrated;
2. the confidence threshold that maximises the Matthews correlation of the resulting
   "intent or out-of-scope" decision, with in-scope and out-of-scope rows weighted equally
   (we do not know a deployment's real out-of-scope rate, so we assume neither dominates).

Nothing here looks at any test set: the choice is the same whatever the model is evaluated on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smartsupport.nlu.classifier import Components, log_softmax

HOLDOUT_SHARE = 0.25
MAX_CV_TRAIN = 3000  # rows per round: keeps cross-validation within the training time budget


@dataclass(slots=True)
class HeldOut:
    """Out-of-fold log-scores; ``gold`` is -1 for a simulated out-of-scope row."""

    log_scores: list[np.ndarray]
    gold: list[np.ndarray]


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
    held = HeldOut([], [])
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
                cut = max(1, len(rows) // 4)
                val_idx.extend(rows[:cut])
                train_idx.extend(rows[cut:])
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
        model = fit(vectors[train_idx], [texts[i] for i in train_idx], [labels[i] for i in train_idx])
        index = {c: k for k, c in enumerate(model.classes)}
        rows = val_idx + oos_idx
        scores = model.log_scores(vectors[rows], [texts[i] for i in rows])
        gold = np.asarray([index.get(labels[i], -1) for i in val_idx] + [-1] * len(oos_idx))
        held.log_scores.append(scores)
        held.gold.append(gold)
        if progress is not None:
            progress()
    return held


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


def choose_threshold(held: HeldOut, temperature: float) -> float:
    """The confidence threshold with the best multi-class MCC (out-of-scope as a class)."""
    from sklearn.metrics import matthews_corrcoef

    confidences, predicted, gold = [], [], []
    for scores, g in zip(held.log_scores, held.gold, strict=True):
        probs = np.exp(log_softmax(scores / temperature))
        confidences.append(probs.max(axis=1))
        predicted.append(probs.argmax(axis=1))
        gold.append(g)
    if not gold or not any((g < 0).any() for g in gold):
        return 0.0
    conf = np.concatenate(confidences)
    pred = np.concatenate(predicted)
    true = np.concatenate(gold)
    # Rounds differ in which intents exist, so an intent index is only meaningful per round.
    offsets = np.concatenate([np.full(len(g), 1000 * k) for k, g in enumerate(gold)])
    true_ids = np.where(true >= 0, true + offsets, -1)
    best_t, best_mcc = 0.0, -1.0
    for t in np.linspace(0.0, 0.95, 96):
        pred_ids = np.where(conf >= t, pred + offsets, -1)
        mcc = matthews_corrcoef(true_ids, pred_ids)
        if mcc > best_mcc + 1e-9:
            best_t, best_mcc = float(t), float(mcc)
    return round(best_t, 4)
