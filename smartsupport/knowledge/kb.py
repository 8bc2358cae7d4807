"""``KnowledgeBase``: ingest help articles, search them, and manage them one by one.

Articles and their passage vectors live in the database (migration 0002), so a restart loads
vectors instead of re-embedding. Each workspace gets an in-process ``WorkspaceIndex`` on its
first search; writes from this process update it in place, and a version row bumped by every
write lets other processes notice changes and reload (checked at most every
``recheck_seconds``).

Every write (an ingest run, one admin API call) is one transaction: it lands completely or
not at all, and the in-memory index changes only after the commit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartsupport.domain import Passage
from smartsupport.encoding import InThread, SentenceEncoder
from smartsupport.errors import Conflict, InvalidInput, NotFound
from smartsupport.knowledge import repository
from smartsupport.knowledge.changes import Changes, apply, commit, prepare
from smartsupport.knowledge.documents import (
    Article,
    Document,
    embedding_text,
    normalise_locale,
)
from smartsupport.knowledge.index import MODES, IndexedArticle, IndexedPassage, WorkspaceIndex
from smartsupport.knowledge.ingest import (
    MAX_FILE_BYTES,
    FileError,
    IngestReport,
    Progress,
    plan,
    read_documents,
)
from smartsupport.knowledge.readers import SourceFile, UnreadableFile
from smartsupport.knowledge.text_analysis import EMBEDDING_INPUT, embedding_input
from smartsupport.knowledge.units import asked_part
from smartsupport.storage import SqlDatabase

MAX_TITLE_CHARS = 500
MAX_BODY_CHARS = 500_000


@dataclass(slots=True)
class _Loaded:
    index: WorkspaceIndex
    version: int
    checked: float


class KnowledgeBase:
    """Help articles of every workspace, over any store that is a ``SqlDatabase``.

    ``embedder`` is the process's ``SentenceEncoder`` (batched, off the event loop), or
    anything with ``name``, ``dim`` and ``encode(list[str]) -> ndarray``, which is then run
    in a thread (default: the packaged model, loaded on first use). Files bigger than
    ``max_file_bytes`` are refused. Concurrent writes to one workspace are serialised per
    process."""

    def __init__(
        self,
        db: SqlDatabase,
        *,
        embedder: Any | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        recheck_seconds: float = 2.0,
    ) -> None:
        self._db = db
        self.encoder = (
            embedder
            if isinstance(embedder, SentenceEncoder)
            else SentenceEncoder(InThread(embedder))
        )
        self._max_file_bytes = max_file_bytes
        self._recheck = recheck_seconds
        self._loaded: dict[str, _Loaded] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def embedder(self) -> SentenceEncoder:
        return self.encoder

    @property
    def _model(self) -> str:
        """What stored vectors are tagged with: the model and how its input was prepared."""
        return f"{self.encoder.name}/{EMBEDDING_INPUT}"

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Vectors of articles' texts (ingestion, re-embedding): not kept in the cache of
        questions."""
        return self.encoder.encode([embedding_input(t) for t in texts], remember=False)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts`` prepared as the index prepares them, blocking; a text asked
        for again soon (a turn's question: retrieval, then answerability) is encoded once."""
        return self.encoder.encode([embedding_input(t) for t in texts])

    async def vectors(self, texts: list[str]) -> np.ndarray:
        """``encode``, awaited: batched with other turns' texts, off the event loop."""
        return await self.encoder.vectors([embedding_input(t) for t in texts])

    def prefetch(self, question: str) -> None:
        """Queue ``question`` as the search and the answerability check will embed it (the
        whole message and its asked part) for the encoder's next batch
        (``SentenceEncoder.prefetch``)."""
        forms = dict.fromkeys(embedding_input(t) for t in (question, asked_part(question)))
        self.encoder.prefetch([form for form in forms if form])

    def _lock(self, workspace_id: str) -> asyncio.Lock:
        return self._locks.setdefault(workspace_id, asyncio.Lock())

    # -- search --------------------------------------------------------------------------
    async def search(
        self,
        workspace_id: str,
        query: str,
        locale: str | None = None,
        k: int = 5,
        mode: str = "hybrid",
    ) -> list[Passage]:
        """The ``k`` passages that best answer ``query``, best first, each with its article's
        title and URL and a fused ``score`` in about [0, 1]. ``locale`` keeps only passages
        in that language (``es`` also matches ``es-MX``)."""
        if mode not in MODES:
            raise InvalidInput(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        query = query.strip()
        if not query:
            return []
        index = await self._index(workspace_id)
        if not len(index):
            return []
        vector = None if mode == "keyword" else (await self.vectors([query]))[0]
        return index.search(query, vector, locale=locale, k=k, mode=mode)

    def may_search(self, workspace_id: str) -> bool:
        """False only when the workspace's loaded index holds no passage: its messages need
        no search vector (a keyword-only workspace)."""
        loaded = self._loaded.get(workspace_id)
        return loaded is None or len(loaded.index) > 0

    async def passages(self, workspace_id: str) -> list[Passage]:
        """Every passage of the workspace's articles (``warm_up.py``)."""
        return (await self._index(workspace_id)).passages()

    async def idf(self, workspace_id: str) -> Callable[[str], float]:
        """How rare each index term is in the workspace's articles (for answerability)."""
        return (await self._index(workspace_id)).rarity()

    async def _index(self, workspace_id: str) -> WorkspaceIndex:
        loaded = self._loaded.get(workspace_id)
        lock = self._lock(workspace_id)
        if loaded is not None and (
            time.monotonic() - loaded.checked < self._recheck or lock.locked()
        ):
            # Fresh enough, or another task is checking (or writing) right now: answer from
            # the index we have. Queueing every search behind that check, each then running
            # its own, stalls every turn of the workspace under load.
            return loaded.index
        async with lock:
            return await self._index_locked(workspace_id)

    async def _index_locked(self, workspace_id: str) -> WorkspaceIndex:
        loaded = self._loaded.get(workspace_id)
        if loaded is not None and time.monotonic() - loaded.checked < self._recheck:
            return loaded.index  # checked by the task that held the lock before us
        current = await repository.version(self._db, workspace_id)
        if loaded is None or loaded.version != current:
            loaded = _Loaded(await self._load(workspace_id), current, 0.0)
            self._loaded[workspace_id] = loaded
        loaded.checked = time.monotonic()
        return loaded.index

    async def _load(self, workspace_id: str) -> WorkspaceIndex:
        embedder, model = self.embedder, self._model
        articles, passages = await repository.index_rows(self._db, workspace_id)
        vectors: dict[str, np.ndarray] = {}
        stale: list[tuple[str, str]] = []  # (id, text) of vectors made another way
        for row, vector_column, text in [
            *((a, "title_embedding", a["title"]) for a in articles),
            *((p, "embedding", embedding_text(p["section"], p["text"])) for p in passages),
        ]:
            vector = repository.from_blob(row[vector_column], embedder.dim)
            if vector is None or row["model"] != model:
                stale.append((row["id"], text))
            else:
                vectors[row["id"]] = vector
        if stale:
            # Stored by another model (or input preparation): re-embed once and keep it.
            fresh = await asyncio.to_thread(self._encode, [text for _, text in stale])
            vectors.update(zip([i for i, _ in stale], fresh, strict=True))
            titles = {a["id"] for a in articles}
            async with self._db.transaction() as tx:
                await repository.update_vectors(
                    tx,
                    [(i, vectors[i]) for i, _ in stale if i in titles],
                    [(i, vectors[i]) for i, _ in stale if i not in titles],
                    model,
                )
        by_article: dict[str, list[IndexedPassage]] = {a["id"]: [] for a in articles}
        for p in passages:
            by_article[p["article_id"]].append(
                IndexedPassage(p["id"], p["position"], p["section"], p["text"], vectors[p["id"]])
            )
        index = WorkspaceIndex(embedder.dim)
        for a in articles:
            if by_article[a["id"]]:
                index.put(
                    IndexedArticle(
                        a["id"],
                        a["title"],
                        a["url"],
                        a["locale"],
                        vectors[a["id"]],
                        by_article[a["id"]],
                    )
                )
        return index

    # -- ingestion -----------------------------------------------------------------------
    async def ingest(
        self,
        workspace_id: str,
        paths: Iterable[str | Path],
        *,
        default_locale: str = "en",
        progress: Progress | None = None,
    ) -> IngestReport:
        """Read every file (folders recursively), store new and changed articles, skip
        unchanged ones by content hash, and remove articles whose file or entry is gone.

        A file that cannot be read is reported in ``errors`` with the reason and changes
        nothing (its previous articles stay); every other file is still ingested."""
        started = time.perf_counter()
        run = plan(paths, normalise_locale(default_locale))
        report = IngestReport(files=len(run.files), errors=list(run.errors), skipped=run.skipped)
        async with self._lock(workspace_id):
            stored = await repository.stored_articles(self._db, workspace_id)
            changes = Changes()
            failed: set[str] = set()

            def fail(file: SourceFile, message: str) -> None:
                failed.add(file.source)
                report.errors.append(FileError(str(file.path), message))

            # Read everything first, so an id defined by two files goes to the file that
            # already owns it rather than to whichever sorts first.
            read: list[tuple[SourceFile, list[Document]]] = []
            for file in run.files:
                try:
                    read.append((file, await read_documents(file, self._max_file_bytes)))
                except UnreadableFile as exc:
                    fail(file, exc.message)
            owner: dict[str, SourceFile] = {}
            for file, docs in read:
                for doc in docs:
                    first = owner.setdefault(doc.external_id, file)
                    old = stored.get(doc.external_id)
                    if first is not file and old is not None and old.source == file.source:
                        owner[doc.external_id] = file
            produced: set[str] = set()
            for done, (file, docs) in enumerate(read, start=1):
                clash = next((d for d in docs if owner[d.external_id] is not file), None)
                try:
                    if clash is not None:
                        raise UnreadableFile(
                            f"defines article id {clash.external_id!r}, which "
                            f"{owner[clash.external_id].path} also defines"
                        )
                    before = len(changes.writes)
                    await self._prepare(workspace_id, docs, stored, changes)
                except UnreadableFile as exc:
                    fail(file, exc.message)
                else:
                    produced.update(d.external_id for d in docs)
                    report.unchanged += len(docs) - (len(changes.writes) - before)
                if progress is not None:
                    progress(done, len(read), str(file.path))
            for article in stored.values():
                if (
                    article.external_id not in produced
                    and article.source not in failed
                    and run.in_scope(article.source)
                ):
                    changes.removed.append(article.id)
            await self._commit(workspace_id, changes)
        report.added = sum(w.new for w in changes.writes)
        report.updated = len(changes.writes) - report.added
        report.removed = len(changes.removed)
        report.passages = sum(len(w.chunks) for w in changes.writes)
        report.seconds = time.perf_counter() - started
        return report

    async def _prepare(
        self,
        workspace_id: str,
        docs: list[Document],
        stored: dict[str, repository.StoredArticle],
        changes: Changes,
    ) -> None:
        loaded = self._loaded.get(workspace_id)
        await prepare(
            docs, stored, changes, encode=self._encode, previous=loaded.index if loaded else None
        )

    async def _commit(self, workspace_id: str, changes: Changes) -> None:
        if changes.empty:
            return
        version = await commit(self._db, workspace_id, changes, model=self._model)
        loaded = self._loaded.get(workspace_id)
        if loaded is not None:
            apply(loaded.index, changes)
            # Our own write is applied; another process's write in between would make the
            # version jump by more than one, which the next check notices.
            if loaded.version == version - 1:
                loaded.version = version

    # -- one article at a time (the admin API) -------------------------------------------
    async def list_articles(
        self, workspace_id: str, *, limit: int = 100, offset: int = 0, locale: str | None = None
    ) -> list[Article]:
        return await repository.list_articles(
            self._db,
            workspace_id,
            limit=max(1, min(limit, 1000)),
            offset=max(0, offset),
            locale=normalise_locale(locale) if locale else None,
        )

    async def get_article(self, workspace_id: str, article_id: str) -> Article:
        article = await repository.get_article(self._db, workspace_id, article_id)
        if article is None:
            raise NotFound(f"no article {article_id!r} in workspace {workspace_id!r}")
        return article

    async def create_article(
        self,
        workspace_id: str,
        *,
        title: str,
        body: str,
        url: str | None = None,
        locale: str = "en",
        external_id: str | None = None,
    ) -> Article:
        doc = _checked_document(
            external_id or f"api:{uuid.uuid4().hex}", title, body, url, locale, source="api"
        )
        async with self._lock(workspace_id):
            stored = await repository.stored_articles(self._db, workspace_id)
            if doc.external_id in stored:
                raise Conflict(f"an article with external id {doc.external_id!r} exists")
            await self._write_one(workspace_id, doc, stored)
        created = (await repository.stored_articles(self._db, workspace_id))[doc.external_id]
        return await self.get_article(workspace_id, created.id)

    async def update_article(
        self,
        workspace_id: str,
        article_id: str,
        *,
        title: str | None = None,
        body: str | None = None,
        url: str | None = None,
        locale: str | None = None,
    ) -> Article:
        """Change the given fields; an article that came from a file is overwritten again
        by the next ingest of that file."""
        async with self._lock(workspace_id):
            current = await self.get_article(workspace_id, article_id)
            doc = _checked_document(
                current.external_id,
                current.title if title is None else title,
                current.body if body is None else body,
                current.url if url is None else (url or None),
                current.locale if locale is None else locale,
                source=current.source,
            )
            stored = await repository.stored_articles(self._db, workspace_id)
            await self._write_one(workspace_id, doc, stored)
        return await self.get_article(workspace_id, article_id)

    async def delete_article(self, workspace_id: str, article_id: str) -> None:
        async with self._lock(workspace_id):
            await self.get_article(workspace_id, article_id)
            await self._commit(workspace_id, Changes(removed=[article_id]))

    async def _write_one(
        self, workspace_id: str, doc: Document, stored: dict[str, repository.StoredArticle]
    ) -> None:
        changes = Changes()
        try:
            await self._prepare(workspace_id, [doc], stored, changes)
        except UnreadableFile as exc:
            raise InvalidInput(exc.message) from exc
        await self._commit(workspace_id, changes)


def _checked_document(
    external_id: str, title: str, body: str, url: str | None, locale: str, *, source: str
) -> Document:
    title, body = (title or "").strip(), (body or "").strip()
    if not title or len(title) > MAX_TITLE_CHARS:
        raise InvalidInput(f"an article needs a title of 1 to {MAX_TITLE_CHARS} characters")
    if not body or len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"an article needs a body of 1 to {MAX_BODY_CHARS} characters")
    if url and not url.startswith(("http://", "https://", "/")):
        raise InvalidInput("url must be absolute (http:// or https://) or start with /")
    return Document(
        external_id=external_id,
        title=title,
        body=body,
        source=source,
        url=url or None,
        locale=normalise_locale(locale),
    )
