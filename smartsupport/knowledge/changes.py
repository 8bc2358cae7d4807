"""One write to the knowledge base, in three steps: ``prepare`` splits and embeds the new and
changed articles, ``commit`` stores everything in one transaction, ``apply`` brings an
in-memory index up to date afterwards. Nothing reaches the database or the index until every
article of the write has been prepared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from smartsupport.domain import utcnow
from smartsupport.knowledge import repository
from smartsupport.knowledge.documents import Chunk, Document, embedding_text, split_passages
from smartsupport.knowledge.index import IndexedArticle, IndexedPassage, WorkspaceIndex
from smartsupport.knowledge.readers import UnreadableFile
from smartsupport.storage import SqlDatabase


@dataclass(slots=True)
class Write:
    """One article to insert or replace, already split and embedded."""

    doc: Document
    article_id: str
    created_at: datetime
    chunks: list[Chunk]
    title_vector: np.ndarray
    vectors: np.ndarray
    new: bool


@dataclass(slots=True)
class Changes:
    writes: list[Write] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (article id, new source)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.writes or self.moved or self.removed)


async def prepare(
    docs: list[Document],
    stored: dict[str, repository.StoredArticle],
    changes: Changes,
    *,
    encode: Callable[[list[str]], np.ndarray],
    previous: WorkspaceIndex | None,
) -> None:
    """Add the new and changed ``docs`` to ``changes``, split and embedded (in a thread).
    Unchanged ones (same content hash) are skipped. Raises UnreadableFile before adding
    anything when one of them has no text."""
    todo: list[tuple[Document, list[Chunk], repository.StoredArticle | None]] = []
    moved: list[tuple[str, str]] = []
    for doc in docs:
        old = stored.get(doc.external_id)
        if old is not None and old.content_hash == doc.content_hash:
            if old.source != doc.source:
                moved.append((old.id, doc.source))
            continue
        chunks = split_passages(doc.title, doc.body)
        if not chunks:
            raise UnreadableFile(f"article {doc.title!r} has no text")
        todo.append((doc, chunks, old))
    changes.moved.extend(moved)
    if not todo:
        return
    # Reuse the vectors of texts that did not change: editing one section of a long article
    # re-embeds that section only.
    known: dict[str, np.ndarray] = {}
    for _, _, old in todo:
        indexed = previous.get(old.id) if previous is not None and old is not None else None
        if indexed is not None:
            known[indexed.title] = indexed.title_vector
            for p in indexed.passages:
                known[embedding_text(p.section, p.text)] = p.vector
    texts = [doc.title for doc, _, _ in todo]
    texts += [c.embedding_text for _, chunks, _ in todo for c in chunks]
    missing = sorted({t for t in texts if t not in known})
    if missing:
        fresh = await asyncio.to_thread(encode, missing)
        known.update(zip(missing, fresh, strict=True))
    now = utcnow()
    for doc, chunks, old in todo:
        changes.writes.append(
            Write(
                doc=doc,
                article_id=old.id if old else uuid.uuid4().hex,
                created_at=old.created_at if old else now,
                chunks=chunks,
                title_vector=known[doc.title],
                vectors=np.stack([known[c.embedding_text] for c in chunks]),
                new=old is None,
            )
        )


async def commit(db: SqlDatabase, workspace_id: str, changes: Changes, *, model: str) -> int:
    """Store ``changes`` in one transaction; return the workspace's new version."""
    now = utcnow()
    async with db.transaction() as tx:
        for w in changes.writes:
            await repository.write_article(
                tx,
                workspace_id=workspace_id,
                article_id=w.article_id,
                doc=w.doc,
                chunks=w.chunks,
                title_vector=w.title_vector,
                vectors=w.vectors,
                model=model,
                created_at=w.created_at,
                now=now,
            )
        for article_id, source in changes.moved:
            await repository.set_source(tx, article_id, source)
        await repository.delete_articles(tx, changes.removed)
        await repository.bump_version(tx, workspace_id)
        return await repository.version(tx, workspace_id)


def apply(index: WorkspaceIndex, changes: Changes) -> None:
    """Make ``index`` reflect committed ``changes`` without reloading."""
    for w in changes.writes:
        index.put(
            IndexedArticle(
                id=w.article_id,
                title=w.doc.title,
                url=w.doc.url,
                locale=w.doc.locale,
                title_vector=w.title_vector,
                passages=[
                    IndexedPassage(
                        repository.passage_id(w.article_id, c.position),
                        c.position,
                        c.section,
                        c.text,
                        w.vectors[i],
                    )
                    for i, c in enumerate(w.chunks)
                ],
            )
        )
    for article_id in changes.removed:
        index.remove(article_id)
