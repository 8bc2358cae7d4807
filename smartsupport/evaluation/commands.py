"""``smartsupport eval conversations PATH``: run a resolution suite, print its figures.

    smartsupport eval conversations tests/resolution            a table and what failed
    smartsupport eval conversations tests/resolution --json     one JSON object
    smartsupport eval conversations fr.yaml --language fr --models-dir /tmp/models

The product runs on a fresh temporary database with the configured answer chain; the NLU
models cache is reused (``--models-dir``, else SMARTSUPPORT_MODELS_DIR or the data
directory's), so only the first run trains. Exits 0 (2 for a configuration error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from smartsupport.errors import InvalidInput


def register(subparsers: Any) -> None:
    evaluate = subparsers.add_parser("eval", help="evaluate the assistant on conversations")
    sub = evaluate.add_subparsers(dest="eval_command", metavar="EVAL_COMMAND", required=True)
    parser = sub.add_parser(
        "conversations",
        help="score a suite of customer conversations: resolved, escalated, wrong, ...",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("path", type=Path, help="a suite file or a folder of *.yaml files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="NLU models cache (default: SMARTSUPPORT_MODELS_DIR or <data dir>/models)",
    )
    parser.add_argument(
        "--language", action="append", default=None, help="only these languages (repeatable)"
    )
    parser.add_argument(
        "--category",
        action="append",
        default=None,
        choices=["resolvable", "unanswerable", "must_escalate"],
        help="only these categories (repeatable)",
    )
    parser.set_defaults(func=cmd_conversations)


def cmd_conversations(args: argparse.Namespace) -> int:
    from smartsupport.evaluation.report import report, table
    from smartsupport.evaluation.runner import run_suite
    from smartsupport.evaluation.suite import load_suite

    # The product logs its start-up (knowledge ingestion, ...); the report is what matters.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cases = load_suite(args.path)
    if args.language:
        cases = [c for c in cases if c.language in args.language]
    if args.category:
        cases = [c for c in cases if c.category in args.category]
    if not cases:
        raise InvalidInput("no conversation matches --language / --category")
    run = asyncio.run(run_suite(cases, models_dir=args.models_dir))
    result = report(run, str(args.path))
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        print(table(result))
    return 0
