"""The knowledge base's SQL (tables from migration 0002), written once for SQLite and
PostgreSQL through the storage helper (``?`` placeholders on both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from smartsupport.knowledge.documents import Article, Chunk, Document
from smartsupport.storage import SqlExecutor

_ARTICLE_COLUMNS = (
    "id, workspace_id, external_id, source, title, url, locale, body, content_hash, "
    "created_at, updated_at"
)


def to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes | memoryview, dim: int) -> np.ndarray | None:
    """The vector, or None when the stored bytes do not fit ``dim`` (another model)."""
    vector = np.frombuffer(bytes(blob), dtype="<f4")
    return vector.astype(np.float32) if vector.shape == (dim,) else None


@dataclass(slots=True)
class StoredArticle:
    """What ingestion compares against: identity, hash and origin of a stored article."""

    id: str
    external_id: str
    content_hash: str
    source: str
    created_at: datetime


def _article(row: dict[str, Any]) -> Article:
    return Article(
        id=row["id"],
        workspace_id=row["workspace_id"],
        external_id=row["external_id"],
        title=row["title"],
        body=row["body"],
        source=row["source"],
        url=row["url"],
        locale=row["locale"],
        content_hash=row["content_hash"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        passages=int(row.get("passages") or 0),
    )


async def version(db: SqlExecutor, workspace_id: str) -> int:
    row = await db.fetchrow("SELECT version FROM kb_versions WHERE workspace_id = ?", workspace_id)
    return int(row["version"]) if row else 0


async def bump_version(tx: SqlExecutor, workspace_id: str) -> None:
    await tx.execute(
        "INSERT INTO kb_versions (workspace_id, version) VALUES (?, 1) "
        "ON CONFLICT (workspace_id) DO UPDATE SET version = kb_versions.version + 1",
        workspace_id,
    )


async def stored_articles(db: SqlExecutor, workspace_id: str) -> dict[str, StoredArticle]:
    rows = await db.fetch(
        "SELECT id, external_id, content_hash, source, created_at FROM kb_articles "
        "WHERE workspace_id = ?",
        workspace_id,
    )
    return {r["external_id"]: StoredArticle(**r) for r in rows}


async def index_rows(
    db: SqlExecutor, workspace_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every article (with its title vector) and passage (with its vector) of a workspace."""
    articles = await db.fetch(
        "SELECT id, title, url, locale, body, title_embedding, model FROM kb_articles "
        "WHERE workspace_id = ? ORDER BY external_id",
        workspace_id,
    )
    passages = await db.fetch(
        "SELECT id, article_id, section, text, position, embedding, model FROM kb_passages "
        "WHERE workspace_id = ? ORDER BY article_id, position",
        workspace_id,
    )
    return articles, passages


async def write_article(
    tx: SqlExecutor,
    *,
    workspace_id: str,
    article_id: str,
    doc: Document,
    chunks: list[Chunk],
    title_vector: np.ndarray,
    vectors: np.ndarray,
    model: str,
    created_at: datetime,
    now: datetime,
) -> None:
    """Insert or replace one article and all its passages."""
    await tx.execute("DELETE FROM kb_passages WHERE article_id = ?", article_id)
    await tx.execute(
        f"INSERT INTO kb_articles ({_ARTICLE_COLUMNS}, title_embedding, model) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET external_id = excluded.external_id, "
        "source = excluded.source, title = excluded.title, url = excluded.url, "
        "locale = excluded.locale, body = excluded.body, content_hash = excluded.content_hash, "
        "updated_at = excluded.updated_at, title_embedding = excluded.title_embedding, "
        "model = excluded.model",
        article_id,
        workspace_id,
        doc.external_id,
        doc.source,
        doc.title,
        doc.url,
        doc.locale,
        doc.body,
        doc.content_hash,
        created_at,
        now,
        to_blob(title_vector),
        model,
    )
    await tx.executemany(
        "INSERT INTO kb_passages (id, article_id, workspace_id, locale, title, section, text, "
        "position, embedding, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                passage_id(article_id, c.position),
                article_id,
                workspace_id,
                doc.locale,
                doc.title,
                c.section,
                c.text,
                c.position,
                to_blob(vectors[i]),
                model,
            )
            for i, c in enumerate(chunks)
        ],
    )


def passage_id(article_id: str, position: int) -> str:
    return f"{article_id}-{position}"


async def set_source(tx: SqlExecutor, article_id: str, source: str) -> None:
    await tx.execute("UPDATE kb_articles SET source = ? WHERE id = ?", source, article_id)


async def delete_articles(tx: SqlExecutor, article_ids: list[str]) -> None:
    rows = [(i,) for i in article_ids]
    if rows:
        await tx.executemany("DELETE FROM kb_passages WHERE article_id = ?", rows)
        await tx.executemany("DELETE FROM kb_articles WHERE id = ?", rows)


async def update_vectors(
    tx: SqlExecutor,
    titles: list[tuple[str, np.ndarray]],
    passages: list[tuple[str, np.ndarray]],
    model: str,
) -> None:
    """Store vectors re-made with another model."""
    if titles:
        await tx.executemany(
            "UPDATE kb_articles SET title_embedding = ?, model = ? WHERE id = ?",
            [(to_blob(v), model, i) for i, v in titles],
        )
    if passages:
        await tx.executemany(
            "UPDATE kb_passages SET embedding = ?, model = ? WHERE id = ?",
            [(to_blob(v), model, i) for i, v in passages],
        )


async def list_articles(
    db: SqlExecutor, workspace_id: str, *, limit: int, offset: int, locale: str | None = None
) -> list[Article]:
    where, args = "a.workspace_id = ?", [workspace_id]
    if locale:
        where += " AND a.locale = ?"
        args.append(locale)
    rows = await db.fetch(
        f"SELECT {', '.join('a.' + c.strip() for c in _ARTICLE_COLUMNS.split(','))}, "
        "(SELECT COUNT(*) FROM kb_passages p WHERE p.article_id = a.id) AS passages "
        f"FROM kb_articles a WHERE {where} ORDER BY a.title, a.id LIMIT ? OFFSET ?",
        *args,
        limit,
        offset,
    )
    return [_article(r) for r in rows]


async def get_article(db: SqlExecutor, workspace_id: str, article_id: str) -> Article | None:
    row = await db.fetchrow(
        f"SELECT {_ARTICLE_COLUMNS}, "
        "(SELECT COUNT(*) FROM kb_passages p WHERE p.article_id = kb_articles.id) AS passages "
        "FROM kb_articles WHERE workspace_id = ? AND id = ?",
        workspace_id,
        article_id,
    )
    return _article(row) if row else None
