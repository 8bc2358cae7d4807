"""Scores for ``smartsupport nlu eval``: accuracy and macro-F1, the HINT3 out-of-scope
figures (in-scope accuracy, out-of-scope recall and precision, Matthews correlation with
out-of-scope as one more class), one-query-at-a-time latency, and the pairs of intents most
often confused (where a workspace author should add or sharpen examples).

In-scope errors are split by cause, because they call for different fixes: the top intent was
right but the out-of-scope decision turned the message away (``in_scope_rejected_right``: the
threshold or the in-scope scorer), or the model answered with the wrong intent
(``in_scope_wrong_intent``: the ranking). ``closed_set_accuracy`` is the top intent's accuracy
on in-scope messages with no out-of-scope decision at all, so
``in_scope_accuracy = closed_set_accuracy - in_scope_rejected_right``.

Without an out-of-scope label the task is closed-set (BANKING77, HWU64): the prediction is the
top intent. With one, a prediction below the model's out-of-scope threshold becomes that label.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np

from smartsupport.nlu.classifier import IntentModel
from smartsupport.nlu.dataset import LabelledTexts


def _percentile_ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples) * 1000.0, q)), 3) if samples else 0.0


def evaluate(
    model: IntentModel, data: LabelledTexts, *, oos_label: str | None = None
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    predictions: list[str] = []
    tops: list[str] = []  # the top intent, whatever the out-of-scope decision
    latencies: list[float] = []
    for text in data.texts:
        started = time.perf_counter()
        prediction = model.predict_one(text)
        latencies.append(time.perf_counter() - started)
        tops.append(prediction.ranking[0][0])
        if oos_label is not None and prediction.out_of_scope:
            predictions.append(oos_label)
        else:
            predictions.append(prediction.ranking[0][0])
    gold = data.labels
    result: dict[str, Any] = {
        "n": len(gold),
        "accuracy": round(float(accuracy_score(gold, predictions)), 4),
        "macro_f1": round(float(f1_score(gold, predictions, average="macro", zero_division=0)), 4),
        "train_seconds": model.meta.get("train_seconds"),
        "train_cpu_seconds": model.meta.get("train_cpu_seconds"),
        "predict_ms_p50": _percentile_ms(latencies, 50),
        "predict_ms_p95": _percentile_ms(latencies, 95),
        "n_train": model.meta.get("n_train"),
        "intents": len(model.classes),
    }
    result["confused"] = confusions(gold, predictions)
    unknown = sorted({g for g in gold if g not in set(model.classes) and g != oos_label})
    if unknown:
        result["labels_not_in_training"] = unknown[:20]
    if oos_label is not None:
        g = np.asarray(gold)
        p = np.asarray(predictions)
        in_scope = g != oos_label
        oos = ~in_scope
        predicted_oos = p == oos_label
        top_right = np.asarray(tops) == g
        result.update(
            {
                "oos_label": oos_label,
                "n_in_scope": int(in_scope.sum()),
                "n_oos": int(oos.sum()),
                "in_scope_accuracy": _ratio((p == g)[in_scope].sum(), in_scope.sum()),
                "closed_set_accuracy": _ratio(top_right[in_scope].sum(), in_scope.sum()),
                "in_scope_rejected_right": _ratio(
                    (predicted_oos & top_right)[in_scope].sum(), in_scope.sum()
                ),
                "in_scope_wrong_intent": _ratio(
                    (~predicted_oos & ~top_right)[in_scope].sum(), in_scope.sum()
                ),
                "oos_recall": _ratio((predicted_oos & oos).sum(), oos.sum()),
                "oos_precision": _ratio((predicted_oos & oos).sum(), predicted_oos.sum()),
                "mcc": round(float(matthews_corrcoef(g, p)), 4),
                "oos_threshold": model.meta.get("oos_threshold"),
            }
        )
    return result


CONFUSED_PAIRS = 10


def confusions(gold: list[str], predicted: list[str], top: int = CONFUSED_PAIRS) -> list[dict]:
    """The most frequent (expected, predicted) mistakes, most frequent first, each with its
    share of the expected intent's test messages."""
    totals = Counter(gold)
    mistakes = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    ranked = sorted(mistakes.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [
        {"expected": g, "predicted": p, "count": n, "share": round(n / totals[g], 4)}
        for (g, p), n in ranked
    ]


def _ratio(num: Any, den: Any) -> float | None:
    return round(float(num) / float(den), 4) if den else None
