"""Fusing the intent model's views: the nearest-example view, fusion weights chosen by
cross-validation on the training data, and the confusion summary of ``nlu eval``."""

from __future__ import annotations

import numpy as np

from smartsupport.nlu import oos, training
from smartsupport.nlu.classifier import DEFAULT_WEIGHTS, WEIGHT_GRID, fuse, log_softmax
from smartsupport.nlu.evaluation import confusions

STANDARD = DEFAULT_WEIGHTS[3]


def _views(embedding: list[list[float]], text: list[list[float]], knn: list[list[float]]):
    return np.stack([log_softmax(np.asarray(v, dtype=np.float64)) for v in (embedding, text, knn)])


def test_fuse_weighs_each_view() -> None:
    views = _views([[2.0, 0.0]], [[0.0, 1.0]], [[0.0, 0.0]])
    assert fuse(views, (1.0, 0.0, 0.0)).argmax() == 0
    assert fuse(views, (0.0, 1.0, 0.0)).argmax() == 1


def _held(rounds: list[np.ndarray], gold: list[int]) -> oos.HeldOut:
    labels = np.asarray(gold)
    return oos.HeldOut(
        [fuse(v, STANDARD) for v in rounds],
        [labels] * len(rounds),
        [np.zeros((len(gold), 2))] * len(rounds),
        list(rounds),
    )


def test_choose_weights_follows_a_view_that_is_clearly_better_on_held_out_rows() -> None:
    # In every round the text view is right on both in-scope rows and the embedding view on
    # neither: a clear gain, so the chosen weights lean on the text view. The out-of-scope
    # row (gold -1) does not count.
    views = _views(
        [[5.0, 0.0], [0.0, 5.0], [1.0, 0.0]], [[0.0, 4.0], [4.0, 0.0], [0, 0]], [[0, 0]] * 3
    )
    held = _held([views, views, views], [1, 0, -1])
    chosen = oos.choose_weights(held)
    assert chosen in WEIGHT_GRID[3] and chosen[1] > chosen[0]
    assert np.allclose(held.reweighted(chosen).log_scores[0], fuse(views, chosen))


def test_choose_weights_keeps_the_default_without_a_clear_gain() -> None:
    tie = _views([[3.0, 0.0]], [[3.0, 0.0]], [[3.0, 0.0]])
    assert oos.choose_weights(_held([tie, tie], [0])) == STANDARD
    # Better in one round, worse in the other: noise, not evidence.
    better = _views([[5.0, 0.0]], [[0.0, 4.0]], [[0, 0]])
    worse = _views([[0.0, 5.0]], [[4.0, 0.0]], [[0, 0]])
    assert oos.choose_weights(_held([better, worse], [1])) == STANDARD
    # One round is no evidence at all.
    assert oos.choose_weights(_held([better], [1])) == STANDARD


def test_a_trained_model_records_its_weights_and_predicts_with_them() -> None:
    texts = [
        "where is my order", "has my parcel shipped", "track my package", "my order is late",
        "where's my delivery", "when does my order arrive", "cancel my order",
        "I want to cancel", "please cancel the purchase", "stop my order", "cancel it now",
        "I changed my mind, cancel", "do you take paypal", "can I pay by card",
        "which payment methods", "is apple pay accepted", "pay with bank transfer",
        "can I pay cash on delivery",
    ]  # fmt: skip
    labels = ["track"] * 6 + ["cancel"] * 6 + ["payment"] * 6
    model = training.train(texts, labels)
    assert tuple(model.meta["weights"]) == model.components.weights
    assert model.components.weights in WEIGHT_GRID[3]
    assert model.predict_one("where is my parcel").ranking[0][0] == "track"
    batch = model.probabilities(model.encode(["cancel the order"] * 2), ["cancel the order"] * 2)
    one = model.probabilities(model.encode(["cancel the order"]), ["cancel the order"])
    assert np.allclose(batch[0], one[0], atol=1e-5)  # the one-message fast path agrees


def test_confusions_rank_the_most_frequent_mistakes() -> None:
    gold = ["a", "a", "a", "a", "b", "b", "c"]
    predicted = ["b", "b", "c", "a", "a", "b", "c"]
    got = confusions(gold, predicted)
    assert got[0] == {"expected": "a", "predicted": "b", "count": 2, "share": 0.5}
    assert [(p["expected"], p["predicted"]) for p in got[1:]] == [("a", "c"), ("b", "a")]
    assert confusions(["a"], ["a"]) == []


def test_the_accurate_grid_varies_minilm_share_and_keeps_weights_per_view() -> None:
    for weights in WEIGHT_GRID[4]:
        assert len(weights) == 4 and abs(weights[0] + weights[1] + weights[3] - 1.0) < 1e-3
    assert DEFAULT_WEIGHTS[4] in WEIGHT_GRID[4] and DEFAULT_WEIGHTS[3] in WEIGHT_GRID[3]
