"""The in-scope scorer: nearest-example similarities, its features, and what a trained model
does with messages far from every intent."""

from __future__ import annotations

import numpy as np
import pytest
from nlukit import FAR, LABELS, TEXTS

from smartsupport.nlu import oos, training
from smartsupport.nlu.scope import FEATURES, ExampleIndex, ScopeScorer, feature_names, features


def _unit(rows: list[list[float]]) -> np.ndarray:
    m = np.asarray(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_nearest_is_the_best_cosine_per_intent_whatever_the_row_order() -> None:
    vectors = _unit([[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0], [0, 0, 1]])
    index = ExampleIndex(vectors, ["b", "a", "b", "c"], ["a", "b", "c"])
    got = index.nearest(_unit([[1, 0, 0], [0, 0.2, 1]]))
    assert got.shape == (1, 2, 3)
    got = got[0]
    brute = _unit([[1, 0, 0], [0, 0.2, 1]]) @ vectors.T
    expected = np.stack([brute[:, [1]].max(1), brute[:, [0, 2]].max(1), brute[:, [3]].max(1)], 1)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_each_embedding_is_searched_in_its_own_space() -> None:
    # Two 2-d embeddings side by side: similarities must not mix across them.
    vectors = np.asarray([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=np.float32)
    index = ExampleIndex(vectors, ["a", "b"], ["a", "b"], [(0, 2), (2, 4)])
    got = index.nearest(np.asarray([[1, 0, 1, 0]], dtype=np.float32))
    assert got.shape == (2, 1, 2)
    assert got[0, 0].tolist() == [1.0, 0.0] and got[1, 0].tolist() == [0.0, 1.0]
    matrix, _ = features(np.asarray([[0.6, 0.4]]), got)
    assert matrix.shape == (1, len(feature_names(2))) == (1, 7)
    assert matrix[0, 2] == 1.0 and matrix[0, 5] == 0.0 and matrix[0, 6] == 1.0


def test_an_intent_without_examples_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one training example"):
        ExampleIndex(_unit([[1, 0]]), ["a"], ["a", "b"])


def test_features_follow_the_top_intent() -> None:
    probs = np.asarray([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    nearest = np.asarray([[0.9, 0.3, 0.1], [0.2, 0.4, 0.3]])
    matrix, top = features(probs, nearest)
    assert matrix.shape == (2, len(FEATURES)) and top.tolist() == [0, 0]
    assert matrix[0, 1] == pytest.approx(0.5)  # margin
    assert matrix[0, 2] == pytest.approx(0.9) and matrix[1, 3] == pytest.approx(0.4)
    assert matrix[1, 4] == pytest.approx(1.0)  # uniform: maximal entropy
    assert matrix[0, 4] < 1.0


def test_scorer_round_trips_through_json_and_rejects_other_features() -> None:
    scorer = ScopeScorer((1.5, 0.2, 3.0, -1.0, -0.5), -2.0, 0.41)
    again = ScopeScorer.from_json(scorer.to_json())
    assert again == scorer
    data = scorer.to_json() | {"features": ["log_top_probability"]}
    with pytest.raises(ValueError, match="features"):
        ScopeScorer.from_json(data)
    seven = ScopeScorer((1.0,) * 7, 0.0, 0.5)
    assert seven.to_json()["features"] == list(feature_names(2))
    assert ScopeScorer.from_json(seven.to_json()) == seven


@pytest.fixture(scope="module")
def model() -> training.IntentModel:
    return training.train(TEXTS, LABELS)


def test_trained_model_has_a_scorer_that_answers_paraphrases(model) -> None:
    assert model.scope is not None and model.meta["scope"]["features"] == list(FEATURES)
    assert model.meta["oos_threshold"] == model.scope.threshold
    for text, intent in [("where's my parcel", "order_status"), ("give me a refund", "refund")]:
        got = model.predict_one(text)
        assert got.ranking[0][0] == intent and not got.out_of_scope, (text, got)
        assert got.in_scope_score is not None and got.in_scope_score >= model.scope.threshold


def test_messages_far_from_every_intent_are_out_of_scope(model) -> None:
    flagged = [model.predict_one(t).out_of_scope for t in FAR]
    assert sum(flagged) >= 3, flagged


def test_scorer_survives_save_and_load(model, tmp_path) -> None:
    training.save(model, tmp_path / "m")
    again = training.load(tmp_path / "m")
    assert again.scope == model.scope
    a, b = model.predict_one("reset my login"), again.predict_one("reset my login")
    assert a.in_scope_score == pytest.approx(b.in_scope_score)


def test_a_configured_threshold_applies_to_the_probability(model) -> None:
    fixed = training.train(TEXTS, LABELS, threshold=0.99)
    assert fixed.scope is None and fixed.meta["oos_threshold_source"] == "configured"
    got = fixed.predict_one("where is my order")
    assert got.out_of_scope == (got.confidence < 0.99) and got.in_scope_score is None


def test_fit_scorer_without_contrast_leans_on_the_probability() -> None:
    held = oos.HeldOut([np.asarray([[2.0, 0.0]])], [np.asarray([0])], [np.asarray([[0.9, 0.1]])])
    scorer = oos.fit_scorer(held, 1.0)
    assert scorer.coef[0] > 0 and all(c == 0 for c in scorer.coef[1:])
