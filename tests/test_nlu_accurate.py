"""The accurate NLU mode: the MiniLM view beside the multilingual embedding and TF-IDF, from
training through the command line and the engine to a model loaded back from disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from nlukit import FAR, LABELS, TEXTS

from smartsupport.cli import main
from smartsupport.errors import ConfigurationError
from smartsupport.nlu import training
from smartsupport.nlu.classifier import USE_DIM
from smartsupport.nlu.engine import NluEngine
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir


@pytest.fixture(scope="module")
def model() -> training.IntentModel:
    return training.train(TEXTS, LABELS, mode="accurate")


def test_accurate_model_has_three_views(model) -> None:
    assert model.mode == "accurate" and model.meta["mode"] == "accurate"
    assert model.components.minilm_model is not None
    # The in-scope scorer also measures nearest examples in MiniLM's space.
    assert model.meta["scope"]["features"][-2:] == ["nearest_same_intent_2", "nearest_any_2"]
    vectors = model.encode(["where is my parcel"])
    assert vectors.shape == (1, USE_DIM + 384)
    standard = training.train(TEXTS, LABELS)
    assert standard.components.minilm_model is None and standard.encode(["x"]).shape[1] == USE_DIM
    # Same data, different mode: a different model, so a cached one is never reused.
    assert training.training_hash(TEXTS, LABELS, mode="accurate") != training.training_hash(
        TEXTS, LABELS
    )


def test_accurate_model_answers_paraphrases_and_refuses_strangers(model) -> None:
    for text, intent in [("where's my parcel", "order_status"), ("I need my money back", "refund"),
                         ("what do you charge to deliver", "shipping_cost")]:  # fmt: skip
        got = model.predict_one(text)
        assert got.ranking[0][0] == intent and not got.out_of_scope, (text, got)
    assert sum(model.predict_one(t).out_of_scope for t in FAR) >= 3


@pytest.mark.parametrize(
    "text", ["", "😀😀😀", "refund " * 2000, "hola where is mi pedido 你好 danke", "\x00\n\t"]
)
def test_odd_messages_get_a_prediction_not_a_crash(model, text: str) -> None:
    got = model.predict_one(text)
    assert 0.0 <= got.confidence <= 1.0 and got.in_scope_score is not None


def test_accurate_model_survives_save_and_load(model, tmp_path: Path) -> None:
    training.save(model, tmp_path / "m")
    again = training.load(tmp_path / "m")
    assert again.mode == "accurate"
    a, b = model.predict_one("reset my login"), again.predict_one("reset my login")
    assert a.ranking[0][0] == b.ranking[0][0] and a.confidence == pytest.approx(b.confidence)
    assert a.in_scope_score == pytest.approx(b.in_scope_score)


@pytest.mark.parametrize("mode", ["standard", "accurate"])
def test_one_example_per_intent_trains_and_answers(mode: str) -> None:
    texts = ["where is my order", "i want a refund", "reset my password"]
    model = training.train(texts, ["order", "refund", "password"], mode=mode)
    assert model.scope is None and model.meta["oos_threshold_source"].startswith("too few")
    got = model.predict_one("where's my parcel")
    assert got.ranking[0][0] == "order" and not got.out_of_scope


def test_command_line_trains_the_accurate_mode(tmp_path: Path, capsys) -> None:
    data = tmp_path / "train.csv"
    with open(data, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(TEXTS, LABELS, strict=True))
    out = tmp_path / "model"
    assert main(["nlu", "train", str(data), "--out", str(out), "--mode", "accurate"]) == 0
    assert "(accurate mode)" in capsys.readouterr().err
    assert json.loads((out / "meta.json").read_text())["mode"] == "accurate"
    assert main(["nlu", "eval", str(out), str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.9


def test_command_line_rejects_an_unknown_mode(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["nlu", "train", str(tmp_path / "x.csv"), "--out", str(tmp_path), "--mode", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err


async def test_workspace_in_accurate_mode(tmp_path: Path) -> None:
    workspace = load_workspace_dir(DEMO_DIR).model_copy(deep=True)
    workspace.section("nlu")["mode"] = "accurate"
    engine = NluEngine(tmp_path)
    await engine.prepare(workspace)
    got = await engine.understand("demo", "hey, where is my parcel? it should be here by now")
    assert got.intent == "order_status" and not got.out_of_scope
    assert got.sentiment <= 0.3  # sentiment still reads the multilingual embedding
    (directory,) = (tmp_path / "models" / "demo").iterdir()
    assert json.loads((directory / "meta.json").read_text())["mode"] == "accurate"


async def test_unknown_workspace_mode_names_the_field(tmp_path: Path) -> None:
    workspace = load_workspace_dir(DEMO_DIR).model_copy(deep=True)
    workspace.section("nlu")["mode"] = "fast"
    with pytest.raises(ConfigurationError, match=r"mode"):
        await NluEngine(tmp_path).prepare(workspace)
