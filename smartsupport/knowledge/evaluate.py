"""``smartsupport kb eval``: retrieval quality and speed on a BEIR-layout test collection.

    corpus.jsonl   {"_id", "title", "text"} per row
    queries.jsonl  {"_id", "text"} per row
    qrels.tsv      header row, then query-id <tab> corpus-id <tab> score (> 0 is relevant)

Corpus rows that share a title become passages of one article, which is what the title
means in FAQ and help-centre collections (rows are the answers or sections of one article);
with unique titles every row is its own article. The index is the one the product uses,
built in memory (no database), and every query is embedded on its own, as in production.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartsupport.errors import InvalidInput
from smartsupport.knowledge.index import IndexedArticle, IndexedPassage, WorkspaceIndex
from smartsupport.knowledge.text_analysis import embedding_input

RANK_DEPTH = 100  # MAP and recall are computed over the top 100, as BEIR does by default


@dataclass(slots=True)
class Collection:
    corpus: list[dict[str, str]]
    queries: list[dict[str, str]]
    qrels: dict[str, set[str]]


def _jsonl(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: line {number} is not valid JSON: {exc.msg}") from exc
        if not isinstance(row, dict) or any(key not in row for key in required):
            raise InvalidInput(f"{path}: line {number} needs the fields {', '.join(required)}")
        rows.append({key: str(value) for key, value in row.items()})
    return rows


def load_collection(corpus: Path, queries: Path, qrels: Path) -> Collection:
    relevant: dict[str, set[str]] = {}
    try:
        lines = qrels.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{qrels}: cannot read: {exc}") from exc
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3:
            raise InvalidInput(f"{qrels}: line {number} needs query-id, corpus-id and score")
        try:
            score = float(parts[2])
        except ValueError as exc:
            raise InvalidInput(
                f"{qrels}: line {number}: score {parts[2]!r} is not a number"
            ) from exc
        if score > 0:
            relevant.setdefault(parts[0], set()).add(parts[1])
    all_queries = _jsonl(queries, ("_id", "text"))
    return Collection(
        corpus=_jsonl(corpus, ("_id", "text")),
        queries=[q for q in all_queries if q["_id"] in relevant],
        qrels=relevant,
    )


def build_index(
    corpus: list[dict[str, str]], embedder: Any, *, embed: bool = True
) -> WorkspaceIndex:
    """The product's index over ``corpus``; ``embed=False`` (keyword mode) leaves the
    vectors at zero instead of running the model."""
    groups: dict[str, list[dict[str, str]]] = {}
    for row in corpus:
        title = row.get("title", "").strip()
        groups.setdefault(title or f"\x00{row['_id']}", []).append(row)
    titles = list(groups)
    texts = [row["text"] for rows in groups.values() for row in rows]
    if embed:
        passage_vectors = embedder.encode([embedding_input(t) for t in texts])
        title_vectors = embedder.encode(
            [embedding_input(t) if not t.startswith("\x00") else "" for t in titles]
        )
    else:
        passage_vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        title_vectors = np.zeros((len(titles), embedder.dim), dtype=np.float32)
    index = WorkspaceIndex(dim=passage_vectors.shape[1])
    next_vector = 0
    for number, (title, rows) in enumerate(groups.items()):
        passages = []
        for position, item in enumerate(rows):
            passages.append(
                IndexedPassage(
                    item["_id"], position, None, item["text"], passage_vectors[next_vector]
                )
            )
            next_vector += 1
        untitled = title.startswith("\x00")
        index.put(
            IndexedArticle(
                id=f"a{number}",
                title="" if untitled else title,
                url=None,
                locale="en",
                # An untitled row is represented by its own text.
                title_vector=passages[0].vector if untitled else title_vectors[number],
                passages=passages,
            )
        )
    index.prepare()
    return index


def evaluate(collection: Collection, embedder: Any, mode: str = "hybrid") -> dict[str, Any]:
    embedder.encode(["warm-up"])  # loading the model is not indexing
    started = time.perf_counter()
    index = build_index(collection.corpus, embedder, embed=mode != "keyword")
    index_seconds = time.perf_counter() - started
    aps, rrs, ndcgs, r1, r5, latencies, cpu = [], [], [], [], [], [], []
    for query in collection.queries:
        relevant = collection.qrels[query["_id"]]
        t0, c0 = time.perf_counter(), time.thread_time()
        vector = None if mode == "keyword" else embedder.encode([embedding_input(query["text"])])[0]
        ranked = [p.id for p in index.search(query["text"], vector, k=RANK_DEPTH, mode=mode)]
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        hits, precision_sum, rr, dcg = 0, 0.0, 0.0, 0.0
        for rank, doc_id in enumerate(ranked, start=1):
            if doc_id in relevant:
                hits += 1
                precision_sum += hits / rank
                if rr == 0.0 and rank <= 10:
                    rr = 1 / rank
                if rank <= 10:
                    dcg += 1 / math.log2(rank + 1)
        ideal = sum(1 / math.log2(r + 1) for r in range(1, min(len(relevant), 10) + 1))
        aps.append(precision_sum / len(relevant))
        rrs.append(rr)
        ndcgs.append(dcg / ideal)
        r1.append(len(relevant.intersection(ranked[:1])) / len(relevant))
        r5.append(len(relevant.intersection(ranked[:5])) / len(relevant))
    return {
        "mode": mode,
        "map": round(float(np.mean(aps)), 4) if aps else 0.0,
        "mrr_at_10": round(float(np.mean(rrs)), 4) if rrs else 0.0,
        "ndcg_at_10": round(float(np.mean(ndcgs)), 4) if ndcgs else 0.0,
        "recall_at_1": round(float(np.mean(r1)), 4) if r1 else 0.0,
        "recall_at_5": round(float(np.mean(r5)), 4) if r5 else 0.0,
        "index_seconds": round(index_seconds, 3),
        "search_ms_p50": round(float(np.percentile(latencies, 50)), 3) if latencies else 0.0,
        "search_ms_p95": round(float(np.percentile(latencies, 95)), 3) if latencies else 0.0,
        # CPU time of the same searches: what they cost when the machine is shared and the
        # wall clock also counts waiting for a core.
        "search_cpu_ms_p50": round(float(np.percentile(cpu, 50)), 3) if cpu else 0.0,
        "search_cpu_ms_p95": round(float(np.percentile(cpu, 95)), 3) if cpu else 0.0,
        "n": len(collection.queries),
        "corpus_size": len(collection.corpus),
    }
