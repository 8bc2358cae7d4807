"""``smartsupport kb eval`` on a tiny BEIR collection and ``kb ingest`` exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartsupport", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=240,
    )


def write_beir(folder: Path) -> None:
    corpus = [
        ("d1", "How do I return an item?", "Start a return from your order page within 30 days."),
        ("d2", "How do I return an item?", "Print the prepaid label and drop the parcel at UPS."),
        ("d3", "Which payment methods do you accept?", "Visa, Mastercard, PayPal and Apple Pay."),
        ("d4", "How long does shipping take?", "Standard shipping takes 3-5 business days."),
        ("d5", "Do gift cards expire?", "No, gift cards never expire."),
    ]
    queries = [
        ("q1", "send back a product I bought"),
        ("q2", "can I pay with paypal"),
        ("q3", "delivery time"),
        ("q4", "gift card expiry date"),
    ]
    qrels = [("q1", "d1"), ("q1", "d2"), ("q2", "d3"), ("q3", "d4"), ("q4", "d5")]
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in corpus)
    )
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "text": t}) for i, t in queries)
    )
    (folder / "qrels.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in qrels)
    )


def test_kb_eval_prints_the_metrics_as_one_json_object(tmp_path):
    write_beir(tmp_path)
    args = [
        "kb",
        "eval",
        "--corpus",
        str(tmp_path / "corpus.jsonl"),
        "--queries",
        str(tmp_path / "queries.jsonl"),
        "--qrels",
        str(tmp_path / "qrels.tsv"),
    ]
    for mode in ("hybrid", "keyword", "embedding"):
        result = run(*args, "--json", "--mode", mode)
        assert result.returncode == 0, result.stderr
        metrics = json.loads(result.stdout)
        for key in (
            "map",
            "mrr_at_10",
            "ndcg_at_10",
            "recall_at_1",
            "recall_at_5",
            "index_seconds",
            "search_ms_p50",
            "search_ms_p95",
        ):
            assert isinstance(metrics[key], float | int), key
        assert metrics["n"] == 4 and metrics["mode"] == mode
        assert metrics["map"] >= 0.75 and metrics["recall_at_5"] == 1.0


def test_kb_eval_names_a_malformed_file(tmp_path):
    write_beir(tmp_path)
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n{broken\n')
    result = run(
        "kb",
        "eval",
        "--corpus",
        str(tmp_path / "corpus.jsonl"),
        "--queries",
        str(tmp_path / "queries.jsonl"),
        "--qrels",
        str(tmp_path / "qrels.tsv"),
        "--json",
    )
    assert result.returncode == 2
    assert "queries.jsonl: line 2 is not valid JSON" in result.stderr


def test_kb_ingest_reports_and_fails_when_a_file_fails(tmp_path):
    env = {
        "SMARTSUPPORT_DATA_DIR": str(tmp_path / "data"),
        "SMARTSUPPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'kb.db'}",
    }
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "ok.md").write_text("# Returns\n\nWithin 30 days.\n")
    ok = run("kb", "ingest", str(folder), "--workspace", "shop", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "shop: 1 file(s): 1 added" in ok.stdout
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 nonsense")
    bad = run("kb", "ingest", str(folder), "--workspace", "shop", env=env)
    assert bad.returncode == 1
    assert "bad.pdf: is a corrupt or unreadable PDF" in bad.stderr
    assert "1 unchanged" in bad.stdout and "1 file(s) failed" in bad.stdout
