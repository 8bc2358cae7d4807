"""A model directory holds the intent model as arrays (``nlu/model_arrays.py``), so a server
answers without importing scikit-learn or SciPy: the loaded model must predict exactly what
the trained one does, an older pickled directory must still load, and a serving process must
never load those libraries."""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from nlukit import FAR, LABELS, TEXTS

from smartsupport.errors import ConfigurationError
from smartsupport.nlu import training
from tests.servers import LiveServer

BANKING = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "banking77"
ODD = ["", "   ", "ÄÖÜ ß!", "REFUND!!! NOW", "x" * 400, "日本語のテキスト", "a\tb\nc"]


def banking(count: int) -> tuple[list[str], list[str]]:
    with open(BANKING / "train.csv", encoding="utf-8") as data:
        rows = list(csv.DictReader(data))
    random.Random(0).shuffle(rows)
    return [r["text"] for r in rows[:count]], [r["category"] for r in rows[:count]]


def held_out(count: int) -> list[str]:
    with open(BANKING / "test.csv", encoding="utf-8") as data:
        return [row["text"] for row in list(csv.DictReader(data))[:count]]


def assert_same_predictions(trained, loaded, texts: list[str]) -> None:
    vectors = trained.encode(texts)
    for batch in (False, True):
        if batch:
            expected = trained.predict_vectors(vectors, texts)
            got = loaded.predict_vectors(vectors, texts)
        else:
            expected = [
                trained.predict_vectors(vectors[i : i + 1], [t])[0] for i, t in enumerate(texts)
            ]  # noqa: E501
            got = [loaded.predict_vectors(vectors[i : i + 1], [t])[0] for i, t in enumerate(texts)]
        for text, a, b in zip(texts, expected, got, strict=True):
            assert [i for i, _ in a.ranking] == [i for i, _ in b.ranking], text
            np.testing.assert_allclose(
                [p for _, p in a.ranking], [p for _, p in b.ranking], atol=1e-5
            )
            assert a.out_of_scope == b.out_of_scope, text
            assert a.in_scope_score == pytest.approx(b.in_scope_score, abs=1e-5), text


@pytest.fixture(scope="module")
def banking_model() -> training.IntentModel:
    return training.train(*banking(600))


def test_a_loaded_model_predicts_what_the_trained_one_does(banking_model, tmp_path) -> None:
    training.save(banking_model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["arrays.npz", "meta.json"]
    loaded = training.load(tmp_path / "m")
    assert loaded.components.vectorizer is None and loaded.components.text_model is None
    assert loaded.classes == banking_model.classes
    assert_same_predictions(banking_model, loaded, held_out(300) + FAR + ODD)
    # Saved again from its arrays, the same model.
    training.save(loaded, tmp_path / "again")
    assert_same_predictions(banking_model, training.load(tmp_path / "again"), held_out(50))


@pytest.mark.parametrize("mode", ["standard", "accurate"])
def test_two_intents_and_the_accurate_mode_survive_the_arrays(mode, tmp_path) -> None:
    two = [
        (t, label)
        for t, label in zip(TEXTS, LABELS, strict=True)
        if label in {"refund", "password"}
    ]
    texts, labels = [t for t, _ in two], [label for _, label in two]
    if mode == "accurate":
        texts, labels = TEXTS, LABELS
    model = training.train(texts, labels, mode=mode)
    training.save(model, tmp_path / "m")
    loaded = training.load(tmp_path / "m")
    assert loaded.mode == mode
    assert_same_predictions(model, loaded, TEXTS + FAR + ODD)


def test_a_pickled_model_of_the_previous_format_still_loads(banking_model, tmp_path) -> None:
    directory = tmp_path / "old"
    directory.mkdir()
    joblib.dump(banking_model.components, directory / "model.joblib")
    meta = {**banking_model.meta, "version": training.PICKLED_VERSION}
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    assert_same_predictions(banking_model, training.load(directory), held_out(100))

    meta["version"] = "nlu-3"
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="retrain it"):
        training.load(directory)
    (directory / "model.joblib").unlink()
    with pytest.raises(ConfigurationError, match="expected meta.json and arrays.npz"):
        training.load(directory)


def mapped_libraries(pid: int) -> set[str]:
    """The shared libraries a process has loaded."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {line.split()[-1] for line in lines if line.endswith(".so") or ".so." in line}


def wait_until_ready(url: str, within: float = 240.0) -> None:
    deadline = time.monotonic() + within
    while httpx.get(url + "/readyz", timeout=60).status_code != 200:
        assert time.monotonic() < deadline, "not ready in time"
        time.sleep(0.1)


def test_a_server_answers_from_a_stored_model_without_scikit_learn_or_scipy(tmp_path) -> None:
    # The first start trains the demo's model (scikit-learn, in that process) unless another
    # test already stored it; the second loads it from the models directory and serves.
    with LiveServer() as server:
        for start in range(2):
            if start:
                server.stop()
                server.start()
            wait_until_ready(server.url)
            chat = httpx.post(server.url + "/api/v1/conversations", json={"workspace": "demo"})
            headers = {"authorization": f"Bearer {chat.json()['token']}"}
            url = f"{server.url}/api/v1/conversations/{chat.json()['id']}/messages"
            for text in [
                "where is my order 1001?",
                "Wie lange dauert der Versand?",
                "I want a refund",
            ]:
                turn = httpx.post(url, json={"text": text}, headers=headers, timeout=60)
                assert turn.status_code == 201 and turn.json()["replies"], turn.text
        assert server.process is not None
        loaded = mapped_libraries(server.process.pid)
        assert [lib for lib in loaded if "/numpy/" in lib or "numpy.libs" in lib]  # it can see
        assert not [lib for lib in loaded if "/sklearn/" in lib or "/scipy/" in lib], loaded
