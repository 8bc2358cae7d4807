"""``smartsupport nlu train`` / ``nlu eval``: the interface the benchmarks call, and clear
errors for bad files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from smartsupport.cli import main
from smartsupport.nlu.schema import parse_nlu_section
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir


def _write(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header.split(","))
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def demo_rows() -> list[tuple[str, str]]:
    spec = parse_nlu_section(load_workspace_dir(DEMO_DIR).section("nlu"))
    texts, labels = spec.training_pairs()
    return list(zip(texts, labels, strict=True))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, demo_rows) -> Path:
    root = tmp_path_factory.mktemp("cli")
    train = _write(root / "train.csv", demo_rows)
    assert main(["nlu", "train", str(train), "--out", str(root / "model")]) == 0
    return root / "model"


def test_train_writes_a_model_with_its_training_time(model_dir: Path) -> None:
    meta = json.loads((model_dir / "meta.json").read_text())
    assert meta["train_seconds"] > 0 and meta["n_train"] > 200
    assert 0.0 < meta["oos_threshold"] < 1.0 and meta["temperature"] > 0


def test_eval_prints_one_json_object_with_oos_metrics(model_dir: Path, tmp_path, capsys) -> None:
    test = _write(
        tmp_path / "test.csv",
        [
            ("where the heck is my package", "order_status"),
            ("please cancel the order I made yesterday", "cancel_order"),
            ("I need to send these boots back", "return_item"),
            ("do you take paypal", "payment"),
            ("what's the weather like in Paris tomorrow", "OOS"),
            ("recommend me a good science fiction novel", "OOS"),
        ],
    )
    capsys.readouterr()
    assert main(["nlu", "eval", str(model_dir), str(test), "--json", "--oos-label", "OOS"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "n",
        "accuracy",
        "macro_f1",
        "train_seconds",
        "predict_ms_p50",
        "predict_ms_p95",
        "in_scope_accuracy",
        "oos_recall",
        "oos_precision",
        "mcc",
    ):
        assert key in result, key
    assert result["n"] == 6 and result["n_oos"] == 2
    assert result["in_scope_accuracy"] >= 0.75
    assert result["oos_recall"] >= 0.5
    # In-scope errors by cause: right but turned away, or the wrong intent.
    assert result["in_scope_accuracy"] == pytest.approx(
        result["closed_set_accuracy"] - result["in_scope_rejected_right"], abs=1e-3
    )
    assert 0.0 <= result["in_scope_wrong_intent"] <= 1.0 - result["closed_set_accuracy"] + 1e-3
    assert 0 < result["predict_ms_p50"] <= result["predict_ms_p95"]


def test_eval_without_oos_label_is_closed_set(model_dir: Path, tmp_path, capsys) -> None:
    test = _write(tmp_path / "t.csv", [("hello there", "greeting"), ("bye bye", "goodbye")])
    capsys.readouterr()
    assert main(["nlu", "eval", str(model_dir), str(test), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == 1.0 and "oos_recall" not in result


def test_training_data_with_oos_rows_skips_them(tmp_path, demo_rows) -> None:
    rows = demo_rows + [("tell me a joke", "NO_NODES_DETECTED")]
    train = _write(tmp_path / "train.csv", rows)
    out = tmp_path / "m"
    assert (
        main(["nlu", "train", str(train), "--out", str(out), "--oos-label", "NO_NODES_DETECTED"])
        == 0
    )
    assert "NO_NODES_DETECTED" not in json.loads((out / "meta.json").read_text())["classes"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"text,label\n", "no data rows"),
        (b"sentence,intent\nhi,greeting\n", "missing column"),
        (b"text,label\nhi,greeting\nhello,greeting\n", "at least 2 different labels"),
        (b"text,label\n\xff\xfe bad bytes,x\nok,y\n", "not valid UTF-8"),
        (b'text,label\n"unclosed quote,greeting\nbye,goodbye\n', "malformed CSV"),
        (b"text,label\nhello,\nbye,goodbye\n", "empty text or label"),
    ],
)
def test_bad_training_files_fail_with_a_clear_error(tmp_path, capsys, content, message) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["nlu", "train", str(path), "--out", str(tmp_path / "m")]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_eval_of_a_missing_model_dir_fails_clearly(tmp_path, capsys) -> None:
    test = _write(tmp_path / "t.csv", [("hi", "greeting"), ("bye", "goodbye")])
    assert main(["nlu", "eval", str(tmp_path / "nothing"), str(test), "--json"]) != 0
    assert "not a model directory" in capsys.readouterr().err


def test_missing_file_fails_clearly(tmp_path, capsys) -> None:
    assert main(["nlu", "train", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m")]) != 0
    assert "cannot read file" in capsys.readouterr().err


def test_eval_reports_the_intents_most_often_confused(model_dir: Path, tmp_path, capsys) -> None:
    test = _write(
        tmp_path / "t.csv",
        [("where is my order", "cancel_order"), ("where is my package", "cancel_order")],
    )
    capsys.readouterr()
    assert main(["nlu", "eval", str(model_dir), str(test), "--json"]) == 0
    confused = json.loads(capsys.readouterr().out)["confused"]
    assert confused[0]["expected"] == "cancel_order" and confused[0]["count"] == 2
    assert main(["nlu", "eval", str(model_dir), str(test)]) == 0
    out = capsys.readouterr().out
    assert "most often confused" in out and "cancel_order -> order_status: 2 (100%)" in out
