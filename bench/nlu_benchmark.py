"""NLU benchmark: our engine through its command line, next to a TF-IDF + logistic-regression
baseline, on the public datasets in ../shared/datasets (see its README and PROVENANCE files).

    .venv/bin/python bench/nlu_benchmark.py [--datasets ../shared/datasets] [--only NAME ...]
                                            [--mode standard|accurate] [--json results.json]

For each dataset it writes ``text,label`` CSVs to a temporary directory, then runs
``smartsupport nlu train DATA.csv --out MODEL_DIR`` and
``smartsupport nlu eval MODEL_DIR TEST.csv --json [--oos-label NO_NODES_DETECTED]`` as
subprocesses, exactly as a user would. Nothing is tuned on a test file: the out-of-scope
threshold comes from cross-validation on the training file inside ``nlu train``.

The baseline is word (1-2) + character (2-5) TF-IDF and scikit-learn's LogisticRegression
(C=10); on HINT3 it calls a query out of scope when its top probability is below 0.5, a
fixed value chosen before looking at any result.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"
OOS = "NO_NODES_DETECTED"
BASELINE_OOS_THRESHOLD = 0.5

# name -> (train file, test file, text column, label column, out-of-scope label)
SUITES: dict[str, tuple[str, str, str, str, str | None]] = {
    "banking77": ("banking77/train.csv", "banking77/test.csv", "text", "category", None),
    "banking77-10shot": ("banking77/fewshot/train_10.csv", "banking77/test.csv", "text", "category", None),  # noqa: E501
    "hwu64": ("hwu64/train.csv", "hwu64/test.csv", "text", "category", None),
    "hint3-sofmattress": ("hint3/v1/train/sofmattress_train.csv", "hint3/v1/test/sofmattress_test.csv", "sentence", "label", OOS),  # noqa: E501
    "hint3-curekart": ("hint3/v1/train/curekart_train.csv", "hint3/v1/test/curekart_test.csv", "sentence", "label", OOS),  # noqa: E501
    "hint3-powerplay11": ("hint3/v1/train/powerplay11_train.csv", "hint3/v1/test/powerplay11_test.csv", "sentence", "label", OOS),  # noqa: E501
    "bitext": ("bitext_customer_support/intent_detection/train.csv", "bitext_customer_support/intent_detection/test.csv", "utterance", "intent", None),  # noqa: E501
}  # fmt: skip

# Published figures, quoted from ../shared/datasets/PUBLISHED_RESULTS.md (tags as there).
PUBLISHED = {
    "banking77": "93.66 BERT-large fine-tuned; 93.36 USE+ConveRT [S]",
    "banking77-10shot": "85.19 USE+ConveRT; 87.20 CPFT; 89.79 ICDA [L]",
    "hwu64": "93.03 full [S] (10-shot: 85.83 USE+ConveRT [L])",
    "hint3-sofmattress": "best MCC 0.633 Dialogflow (in-scope 60.6 / OOS rec 86.1) [V]",
    "hint3-curekart": "best MCC 0.603 Haptik (in-scope 60.4 / OOS rec 86.8) [V]",
    "hint3-powerplay11": "best MCC 0.347 BERT (in-scope 43.6 / OOS rec 75.4) [V]",
    "bitext": "none published",
}


# Out-of-scope beyond HINT3, derived from the closed-set data (nothing published to compare
# with): a quarter of the intents, drawn once with a fixed seed, are left out of training and
# their test queries become out-of-scope; or HWU64's assistant queries are the out-of-scope
# ones for a banking bot. HWU64 keeps 20 examples per intent, a workspace-sized training set.
DERIVED_OOS = "OUT_OF_SCOPE"
Rows = list[tuple[str, str]]


def _read(datasets: Path, rel: str, text_col: str, label_col: str) -> Rows:
    with open(datasets / rel, encoding="utf-8", newline="") as handle:
        return [(r[text_col], r[label_col]) for r in csv.DictReader(handle)]


Build = Callable[[Path], tuple[Rows, Rows]]


def hidden_intents(suite: str, per_class: int | None = None) -> Build:
    def build(datasets: Path) -> tuple[Rows, Rows]:
        train_rel, test_rel, text_col, label_col, _ = SUITES[suite]
        train = _read(datasets, train_rel, text_col, label_col)
        test = _read(datasets, test_rel, text_col, label_col)
        rng = random.Random(7)
        labels = sorted({lab for _, lab in train})
        hidden = set(rng.sample(labels, len(labels) // 4))
        kept = [(t, lab) for t, lab in train if lab not in hidden]
        if per_class:
            by: dict[str, Rows] = {}
            for row in kept:
                by.setdefault(row[1], []).append(row)
            kept = [r for rows in by.values() for r in rng.sample(rows, min(per_class, len(rows)))]
        return kept, [(t, DERIVED_OOS if lab in hidden else lab) for t, lab in test]

    return build


def banking_vs_hwu(
    datasets: Path, train_rel: str = "banking77/fewshot/train_10.csv"
) -> tuple[Rows, Rows]:  # noqa: E501
    train = _read(datasets, train_rel, "text", "category")
    banking = _read(datasets, "banking77/test.csv", "text", "category")
    hwu = _read(datasets, "hwu64/test.csv", "text", "category")
    return train, random.Random(3).sample(banking, 1000) + [(t, DERIVED_OOS) for t, _ in hwu]


def full_banking_vs_hwu(datasets: Path) -> tuple[Rows, Rows]:
    return banking_vs_hwu(datasets, "banking77/train.csv")


def sampled_shots(seed: int, per_class: int = 10) -> Build:
    """``per_class`` training examples per intent drawn from the full BANKING77 training set
    with ``seed``: papers report few-shot results over several draws, not one file."""

    def build(datasets: Path) -> tuple[Rows, Rows]:
        train = _read(datasets, "banking77/train.csv", "text", "category")
        by: dict[str, Rows] = {}
        for row in train:
            by.setdefault(row[1], []).append(row)
        rng = random.Random(seed)
        shots = [r for label in sorted(by) for r in rng.sample(by[label], per_class)]
        return shots, _read(datasets, "banking77/test.csv", "text", "category")

    return build


SEEDS = range(5)
FEW_SHOT = {f"banking77-10shot-seed{seed}": sampled_shots(seed) for seed in SEEDS}
DERIVED = {
    **FEW_SHOT,
    "banking77-10shot-hidden-intents": hidden_intents("banking77-10shot"),
    "hwu64-20shot-hidden-intents": hidden_intents("hwu64", per_class=20),
    "banking77-10shot-vs-hwu64": banking_vs_hwu,
    # The held-out benchmark's regime (many intents, about 100 examples each, out-of-scope
    # queries): the full training sets, so that cross-validation's row cap applies as there.
    "hwu64-full-hidden-intents": hidden_intents("hwu64"),
    "banking77-full-vs-hwu64": full_banking_vs_hwu,
}


def write_rows(rows: Rows, dst: Path) -> tuple[list[str], list[str]]:
    with open(dst, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return [t for t, _ in rows], [lab for _, lab in rows]


def convert(src: Path, dst: Path, text_col: str, label_col: str) -> tuple[list[str], list[str]]:
    with open(src, encoding="utf-8", newline="") as handle:
        rows = [(r[text_col], r[label_col]) for r in csv.DictReader(handle)]
    with open(dst, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return [t for t, _ in rows], [lab for _, lab in rows]


def cli(*args: str) -> str:
    command = [sys.executable, "-m", "smartsupport", "nlu", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stdout


def run_engine(train: Path, test: Path, work: Path, oos: str | None, mode: str) -> dict:
    model = work / "model"
    cli("train", str(train), "--out", str(model), "--mode", mode)
    extra = ["--oos-label", oos] if oos else []
    return json.loads(cli("eval", str(model), str(test), "--json", *extra))


def run_baseline(
    train: tuple[list[str], list[str]], test: tuple[list[str], list[str]], oos: str | None
) -> dict:
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
    from sklearn.pipeline import make_pipeline, make_union

    started = time.perf_counter()
    pipeline = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LogisticRegression(C=10.0, max_iter=200),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(*train)
    train_seconds = time.perf_counter() - started
    texts, gold = test
    probs = pipeline.predict_proba(texts)
    classes = pipeline.classes_
    top = classes[probs.argmax(axis=1)]
    if oos:
        top = np.where(probs.max(axis=1) >= BASELINE_OOS_THRESHOLD, top, oos)
    result = {
        "accuracy": accuracy_score(gold, top),
        "macro_f1": f1_score(gold, top, average="macro", zero_division=0),
        "train_seconds": round(train_seconds, 1),
    }
    if oos:
        g = np.asarray(gold)
        ins = g != oos
        result.update(
            in_scope_accuracy=float((top == g)[ins].mean()),
            oos_recall=float((top == oos)[~ins].mean()),
            mcc=float(matthews_corrcoef(g, top)),
        )
    return result


def sentiment_check() -> list[dict]:
    """Agreement of the sentiment score with the hand-labelled multilingual set."""
    sys.path.insert(0, str(ROOT))
    from smartsupport.embeddings import get_embedder
    from smartsupport.nlu.sentiment import sentiment

    with open(ROOT / "tests" / "data" / "nlu_sentiment_eval.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    vectors = get_embedder().encode([r["text"] for r in rows])
    out = []
    for language in ("en", "es", "fr", "de", "pt"):
        idx = [i for i, r in enumerate(rows) if r["language"] == language]
        gold = np.asarray([int(rows[i]["label"]) for i in idx])
        score = np.asarray([sentiment(rows[i]["text"], language, vectors[i]) for i in idx])
        polar = gold != 0
        out.append(
            {
                "language": language,
                "n": len(idx),
                "method": "VADER" if language == "en" else "embedding head",
                "sign_accuracy": float((np.sign(score[polar]) == gold[polar]).mean()),
                "pearson": float(np.corrcoef(score, gold)[0, 1]),
            }
        )
    return out


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])


LANGUAGE_FOLDS = 3


def demo_languages(mode: str) -> dict:
    """Intent accuracy on the demo workspace's non-English examples, each held out (in
    ``LANGUAGE_FOLDS`` folds) from a model trained on the rest: with the fusion weights chosen
    by cross-validation (now) and with the fixed even split of the previous engine (before).
    Counted right only when the model answers in scope with the right intent."""
    sys.path.insert(0, str(ROOT))
    from smartsupport.nlu import oos, training
    from smartsupport.nlu.classifier import DEFAULT_WEIGHTS
    from smartsupport.nlu.language import detect_language
    from smartsupport.nlu.schema import parse_nlu_section
    from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

    spec = parse_nlu_section(load_workspace_dir(DEMO_DIR).section("nlu"))
    texts, labels = spec.training_pairs()
    foreign = [i for i, t in enumerate(texts) if detect_language(t, "en").language != "en"]
    out: dict = {"n": len(foreign)}
    grid = oos.WEIGHT_GRID
    fixed = {views: (weights,) for views, weights in DEFAULT_WEIGHTS.items()}
    for name, candidates in (("before", fixed), ("after", grid)):
        oos.WEIGHT_GRID = candidates  # the previous engine: one fixed fusion, no kNN view
        right = 0
        try:
            for fold in range(LANGUAGE_FOLDS):
                held = set(foreign[fold::LANGUAGE_FOLDS])
                keep = [i for i in range(len(texts)) if i not in held]
                model = training.train(
                    [texts[i] for i in keep], [labels[i] for i in keep], mode=mode
                )
                for i in held:
                    p = model.predict_one(texts[i])
                    right += int(not p.out_of_scope and p.ranking[0][0] == labels[i])
        finally:
            oos.WEIGHT_GRID = grid
        out[name] = right / max(len(foreign), 1)
    return out


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--only", nargs="*", choices=sorted(SUITES) + sorted(DERIVED))
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--mode", choices=["standard", "accurate"], default="standard")
    args = parser.parse_args()
    results: dict = {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "mode": args.mode,
        "load_before": load_average(),
        "suites": {},
    }
    for name in args.only or list(SUITES) + list(DERIVED):
        with tempfile.TemporaryDirectory(prefix=f"nlu-{name}-") as tmp:
            work = Path(tmp)
            if name in DERIVED:
                train_rows, test_rows = DERIVED[name](args.datasets)
                train = write_rows(train_rows, work / "train.csv")
                test = write_rows(test_rows, work / "test.csv")
                oos: str | None = None if name in FEW_SHOT else DERIVED_OOS
            else:
                train_rel, test_rel, text_col, label_col, oos = SUITES[name]
                train = convert(args.datasets / train_rel, work / "train.csv", text_col, label_col)
                test = convert(args.datasets / test_rel, work / "test.csv", text_col, label_col)
            ours = run_engine(work / "train.csv", work / "test.csv", work, oos, args.mode)
            base = None if args.no_baseline else run_baseline(train, test, oos)
        published = PUBLISHED.get(name, "none (derived here)")
        results["suites"][name] = {"ours": ours, "baseline": base, "published": published}
        print(
            f"{name}: ours {json.dumps(ours)}\n{name}: baseline {json.dumps(base)}", file=sys.stderr
        )
    results["sentiment"] = sentiment_check()
    if not args.only:
        results["demo_languages"] = demo_languages(args.mode)
    results["load_after"] = load_average()
    print_table(results)
    print_issue_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


def print_table(results: dict) -> None:
    print(f"\nMachine: {results['cores']} cores. Mode: {results['mode']}. Accuracy and F1 in %.\n")
    print(
        "| dataset | ours acc | ours macro-F1 | in-scope acc / OOS recall / MCC | train s (cpu s) | p50 / p95 ms | baseline acc | baseline in-scope / OOS rec / MCC | baseline train s | published |"  # noqa: E501
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, row in results["suites"].items():
        o, b = row["ours"], row["baseline"] or {}
        oos = (
            f"{pct(o['in_scope_accuracy'])} / {pct(o['oos_recall'])} / {o['mcc']:.3f}"
            if "mcc" in o
            else "-"
        )
        boos = (
            f"{pct(b['in_scope_accuracy'])} / {pct(b['oos_recall'])} / {b['mcc']:.3f}"
            if "mcc" in b
            else "-"
        )
        print(
            f"| {name} | {pct(o['accuracy'])} | {pct(o['macro_f1'])} | {oos} | "
            f"{o['train_seconds']} ({o.get('train_cpu_seconds')}) | "
            f"{o['predict_ms_p50']} / {o['predict_ms_p95']} | {pct(b.get('accuracy'))} | {boos} | "
            f"{b.get('train_seconds', '-')} | {row['published']} |"
        )
    print("\n| language | n | method | sign accuracy on polar sentences | Pearson r with labels |")
    print("|---|---|---|---|---|")
    for s in results["sentiment"]:
        print(
            f"| {s['language']} | {s['n']} | {s['method']} | {pct(s['sign_accuracy'])} | {s['pearson']:.2f} |"  # noqa: E501
        )


# Issue 12's table: (row, suites, metric, target, figure before this change).
ISSUE_ROWS = [
    ("BANKING77, full training set", ["banking77"], "accuracy", ">= 94.6", "93.5"),
    ("BANKING77, 10 per intent, mean of 5 seeds", [f"banking77-10shot-seed{s}" for s in SEEDS], "accuracy", ">= 88", "83.0 (one file)"),  # noqa: E501
    ("BANKING77, 10 per intent, the dataset's file", ["banking77-10shot"], "accuracy", "-", "83.0"),  # noqa: E501
    ("HWU64", ["hwu64"], "accuracy", ">= 92.5", "91.5"),
    ("HINT3 SOFMattress MCC", ["hint3-sofmattress"], "mcc", ">= 0.65", "0.647"),
    ("HINT3 Curekart MCC", ["hint3-curekart"], "mcc", ">= 0.62", "0.662"),
    ("HINT3 Powerplay11 MCC", ["hint3-powerplay11"], "mcc", ">= 0.44", "0.409"),
]  # fmt: skip


def _figure(results: dict, suites: list[str], metric: str) -> str:
    found = [results["suites"][s]["ours"][metric] for s in suites if s in results["suites"]]
    if len(found) < len(suites):
        return "not run"
    mean = sum(found) / len(found)
    return f"{mean:.3f}" if metric == "mcc" else f"{100 * mean:.1f}"


def print_issue_table(results: dict) -> None:
    print(
        f"\nIssue 12 (intent understanding). Machine: {results['cpu']}, {results['cores']} cores; "
        f"load average {results['load_before']} at start, {results['load_after']} at end; "
        f"mode {results['mode']}.\n"
    )
    print("| benchmark | target | before | now |")
    print("|---|---|---|---|")
    for row, suites, metric, target, before in ISSUE_ROWS:
        print(f"| {row} | {target} | {before} | {_figure(results, suites, metric)} |")
    proxies = [
        f"{name}: {pct(o['in_scope_accuracy'])} / {pct(o['oos_recall'])}"
        for name, row in results["suites"].items()
        if "mcc" in (o := row["ours"]) and name in DERIVED
    ]
    # In-scope errors by cause (nlu/evaluation.py): the out-of-scope decision turning away a
    # message whose top intent was right, or the wrong intent answered.
    causes = [
        f"{name}: closed-set {pct(o.get('closed_set_accuracy'))}, right but rejected "
        f"{pct(o.get('in_scope_rejected_right'))}, "
        f"wrong intent {pct(o.get('in_scope_wrong_intent'))}"
        for name, row in results["suites"].items()
        if "mcc" in (o := row["ours"])
    ]
    print(
        "| held-out in-scope accuracy / OOS recall | >= 96 / >= 85 | 92.5 / 87.6 | not measurable "
        f"here (the held-out set is not in this project); derived: {'; '.join(proxies) or '-'} |"
    )
    print(f"| in-scope errors by cause | - | - | {'; '.join(causes) or '-'} |")
    full = results["suites"].get("banking77", {}).get("ours")
    if full:
        print(
            f"| BANKING77 training s (cpu s) / predict p95 ms | <= 60 / <= 10 | 22.0 / 5.6 idle | "
            f"{full['train_seconds']} ({full.get('train_cpu_seconds')}) / "
            f"{full['predict_ms_p95']} |"
        )
    languages = results.get("demo_languages")
    if languages:
        print(
            f"| demo non-English examples held out ({languages['n']}), intent accuracy | "
            f"no regression | {pct(languages['before'])} | {pct(languages['after'])} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
