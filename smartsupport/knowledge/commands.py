"""``smartsupport kb ...``: ingest help articles and evaluate retrieval.

smartsupport kb ingest [PATH ...] [--workspace demo] [--locale en]
    Files and folders (recursively). Without PATH: the workspace's articles/ folder.
    Exit status 1 when any file failed (the others are still ingested).
smartsupport kb eval --corpus corpus.jsonl --queries queries.jsonl --qrels qrels.tsv
                     [--mode hybrid|keyword|embedding] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, cast

from smartsupport.errors import ConfigurationError


def register(subparsers: Any) -> None:
    kb = subparsers.add_parser("kb", help="knowledge base: ingest articles, evaluate search")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND", required=True)

    ingest = kb_sub.add_parser("ingest", help="add or update help articles from files")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="files or folders")
    ingest.add_argument("--workspace", default="demo", help="workspace id (demo)")
    ingest.add_argument("--locale", default=None, help="locale of files that do not say")
    ingest.set_defaults(func=cmd_ingest)

    evaluate = kb_sub.add_parser("eval", help="retrieval quality on a BEIR-layout collection")
    evaluate.add_argument("--corpus", required=True, type=Path, help="corpus.jsonl")
    evaluate.add_argument("--queries", required=True, type=Path, help="queries.jsonl")
    evaluate.add_argument("--qrels", required=True, type=Path, help="qrels.tsv")
    evaluate.add_argument("--mode", default="hybrid", choices=["hybrid", "keyword", "embedding"])
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=cmd_eval)


class ProgressBar:
    """A one-line progress bar on a terminal; silent when output is redirected."""

    def __init__(self, stream: Any = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.active = stream.isatty()

    def __call__(self, done: int, total: int, path: str) -> None:
        if not self.active or total == 0:
            return
        filled = round(self.width * done / total)
        name = Path(path).name[-40:]
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {name:<40}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def cmd_ingest(args: argparse.Namespace) -> int:
    return asyncio.run(_ingest(args))


async def _ingest(args: argparse.Namespace) -> int:
    from smartsupport.knowledge.kb import KnowledgeBase
    from smartsupport.settings import load_settings
    from smartsupport.storage import SqlDatabase, open_store
    from smartsupport.workspaces import discover_workspaces

    settings = load_settings()
    config = next(
        (
            w
            for w in discover_workspaces(settings.workspaces_dir, demo=settings.demo)
            if w.id == args.workspace
        ),
        None,
    )
    paths = list(args.paths)
    if not paths:
        if config is None or config.articles_dir is None:
            raise ConfigurationError(
                f"workspace {args.workspace!r} has no articles/ folder; name files or folders "
                "to ingest: smartsupport kb ingest PATH ..."
            )
        paths = [config.articles_dir]
    locale = args.locale or (config.default_locale if config else "en")
    store = open_store(settings.database_url)
    await store.connect()
    try:
        await store.migrate()
        kb = KnowledgeBase(cast(SqlDatabase, store))  # every store is also a SqlDatabase
        report = await kb.ingest(
            args.workspace, paths, default_locale=locale, progress=ProgressBar()
        )
    finally:
        await store.close()
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"{args.workspace}: {report.summary()}")
    return 1 if report.errors else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from smartsupport.embeddings import get_embedder
    from smartsupport.knowledge.evaluate import evaluate, load_collection

    collection = load_collection(args.corpus, args.queries, args.qrels)
    result = evaluate(collection, get_embedder(), mode=args.mode)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>14}  {value}")
    return 0
