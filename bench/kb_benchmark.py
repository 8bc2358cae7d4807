"""Knowledge-base benchmarks: retrieval quality and speed on StackFAQ, and ingest speed.

    .venv/bin/python bench/kb_benchmark.py [--beir ../shared/datasets/stackfaq/beir]
        [--articles 1000] [--skip-ingest]

1. Runs ``smartsupport kb eval --json`` (the product's command, in a subprocess) for the
   keyword-only, embedding-only and hybrid modes and prints a Markdown table.
2. Writes ``--articles`` Markdown help articles (built from the corpus texts: a title and
   three sections each) and times ``KnowledgeBase.ingest`` of all of them into a fresh
   SQLite database, model already loaded, as ``smartsupport kb ingest`` would do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BEIR = ROOT.parent / "shared" / "datasets" / "stackfaq" / "beir"
PUBLISHED_BM25_MAP = 0.665


def evaluate(beir: Path, mode: str) -> dict[str, float]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartsupport",
            "kb",
            "eval",
            "--corpus",
            str(beir / "corpus.jsonl"),
            "--queries",
            str(beir / "queries.jsonl"),
            "--qrels",
            str(beir / "qrels.tsv"),
            "--mode",
            mode,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout)


async def time_ingest(beir: Path, count: int) -> dict[str, float]:
    from smartsupport.embeddings import get_embedder
    from smartsupport.knowledge.kb import KnowledgeBase
    from smartsupport.storage import open_store

    rows = [json.loads(line) for line in (beir / "corpus.jsonl").read_text().splitlines() if line]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        for i in range(count):
            parts = [rows[(i * 3 + j) % len(rows)] for j in range(3)]
            body = "\n\n".join(
                f"## {p['title']} ({i}.{j})\n\n{p['text']}" for j, p in enumerate(parts)
            )
            title = json.dumps(f"{parts[0]['title']} (article {i})")  # JSON is valid YAML
            (folder / f"article-{i:04d}.md").write_text(
                f"---\ntitle: {title}\nurl: https://help.example/{i}\n---\n{body}\n"
            )
        store = open_store(f"sqlite:///{tmp}/kb.db")
        await store.connect()
        await store.migrate()
        get_embedder().encode(["warm-up"])
        kb = KnowledgeBase(store)
        started, cpu = time.perf_counter(), time.process_time()
        report = await kb.ingest("bench", [folder])
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        again = await kb.ingest("bench", [folder])
        unchanged_seconds = time.perf_counter() - started
        await store.close()
    assert report.ok and report.added == count, report.summary()
    return {
        "articles": count,
        "passages": report.passages,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "reingest_unchanged_seconds": round(unchanged_seconds, 2),
        "unchanged": again.unchanged,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beir", type=Path, default=DEFAULT_BEIR)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-eval", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; collection: {args.beir}")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(
        "| mode | MAP | MRR@10 | nDCG@10 | R@1 | R@5 | index s | search p50 ms | search p95 ms "
        "| search CPU p95 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| BM25, published | {PUBLISHED_BM25_MAP} | | | | | | | | |")
    for mode in () if args.skip_eval else ("keyword", "embedding", "hybrid"):
        r = evaluate(args.beir, mode)
        print(
            f"| {mode} | {r['map']:.3f} | {r['mrr_at_10']:.3f} | {r['ndcg_at_10']:.3f} | "
            f"{r['recall_at_1']:.3f} | {r['recall_at_5']:.3f} | {r['index_seconds']:.1f} | "
            f"{r['search_ms_p50']:.1f} | {r['search_ms_p95']:.1f} | "
            f"{r['search_cpu_ms_p95']:.1f} |",
            flush=True,
        )
    if not args.skip_ingest:
        print("ingest:", json.dumps(asyncio.run(time_ingest(args.beir, args.articles))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
