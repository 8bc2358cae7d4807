"""Sentence vectors for the conversation path: each text encoded once, the texts of
concurrent turns encoded together, the model never on the event loop (issue 18).

    encoder = SentenceEncoder(backend)       InThread(embedder) or encoder_process.EncoderProcess
    await encoder.start()                    loads the model (in the child process, if one)
    vectors = await encoder.vectors(texts)   (n, dim) float32, L2-normalised, input order
    vector, scored = await encoder.vector_and_intent(text, (directory, hash, message, default))
                                             the text's vector and, where the backend can
                                             (the encoder process), the prediction of the
                                             intent model saved in ``directory``, with the
                                             message's language and sentiment
    encoder.encode(texts)                    the same, blocking: ingestion, jobs, start-up
    encoder.prefetch(texts)                  queued for the next batch, which this does not
                                             start (``flush`` does): a turn's other texts go
                                             with its intent model's
    await encoder.close()

The packaged encoder does ~430 sentences/s one at a time and ~1,100/s in batches, and its
pure-Python tokenizer holds the GIL (docs/benchmarks.md, issue 18). So a turn awaits its
texts here instead of calling the model: texts asked for while a batch runs wait for the
next batch, in one thread (or sent to the encoder process, where the work does not hold this
process's GIL). Up to two batches are under way at once: the second waits beside the first,
so the encoder has it as soon as it is done. A text asked for again soon (the question, for
intents, the search and answerability, within one turn or the next) comes from the cache.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from smartsupport import stopping
from smartsupport.embeddings import get_embedder

CACHE_TEXTS = 4096  # 8 MiB of 512-dimension vectors
MAX_BATCH = 64  # texts per model call: the throughput gain flattens out by then
# Batches sent to the backend at once. With one, the encoder process idled while the event
# loop ran the turns its last batch released, and the loop idled while it encoded (at
# saturation each was busy 60-80% of the time, docs/benchmarks.md, "Stop 35"); with two,
# the next batch waits beside the running one.
IN_FLIGHT = 2
SECOND_BATCH = MAX_BATCH // 2  # texts that justify a batch beside one under way

# What a turn asks of the intent model: its directory and hash, and the message (as the NLU
# engine reads its language and sentiment) with the workspace's default language
IntentAsk = tuple[str, str, str, str]
# (row of the batch's texts the model reads, *IntentAsk): one prediction asked for
IntentJob = tuple[int, str, str, str, str]
# (text, *IntentAsk): a job as a turn asks for it
JobKey = tuple[str, str, str, str, str]


class Scored(NamedTuple):
    """The intent model's prediction for one text, and what was read of the message beside
    it (``nlu.sentiment.read``)."""

    ranking: list[tuple[str, float]]
    confidence: float
    out_of_scope: bool
    in_scope: float | None
    languages: tuple[tuple[str, float], ...]  # nlu.language.guesses
    sentiment: float


class EncoderBackend(ABC):
    """Where the model runs. ``encode`` blocks and may be called from any thread."""

    name: str
    dim: int

    @abstractmethod
    def start(self) -> None:
        """Load the model (blocking; called once, off the event loop)."""

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors of ``texts``, one row each, in order."""

    @abstractmethod
    async def vectors(self, texts: list[str]) -> np.ndarray:
        """``encode``, awaited without blocking the event loop. ``SentenceEncoder`` calls it
        for one batch at a time."""

    async def vectors_and_intents(
        self, texts: list[str], jobs: list[IntentJob]
    ) -> tuple[np.ndarray, list[Scored | None]]:
        """``vectors``, and each job's prediction where this backend scores intent models
        (None: the caller scores it)."""
        return await self.vectors(texts), [None] * len(jobs)

    @abstractmethod
    def close(self) -> None:
        """Release the model (blocking)."""


class InThread(EncoderBackend):
    """The model in this process (``embeddings.Embedder``, or any object like it)."""

    def __init__(self, embedder: Any = None) -> None:
        self._embedder = embedder
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = get_embedder()  # loaded on first use, never at import
        return self._embedder

    @property
    def name(self) -> str:  # type: ignore[override]
        return str(self.embedder.name)

    @property
    def dim(self) -> int:  # type: ignore[override]
        return int(self.embedder.dim)

    def start(self) -> None:
        self.embedder.encode(["warm up"])

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embedder.encode(texts), dtype=np.float32)

    async def vectors(self, texts: list[str]) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.encode, texts)

    def close(self) -> None:
        # The model stays: it is the process's (``get_embedder``), shared by every app.
        self._thread.shutdown(wait=False)


@dataclass(slots=True)
class _Pending:
    """One event loop's texts: waiting for the next batch, in a batch being encoded."""

    queue: dict[str, asyncio.Future[np.ndarray]] = field(default_factory=dict)
    running: dict[str, asyncio.Future[np.ndarray]] = field(default_factory=dict)
    # the text's vector and the model's prediction
    jobs: dict[JobKey, asyncio.Future[tuple[np.ndarray, Scored | None]]] = field(
        default_factory=dict
    )
    workers: set[asyncio.Task[None]] = field(default_factory=set)

    def backlog(self) -> int:
        return len(self.queue) + len(self.jobs)


class SentenceEncoder:
    """Vectors for texts, cached and batched across the turns that ask at the same time."""

    def __init__(self, backend: EncoderBackend, *, cache_texts: int = CACHE_TEXTS) -> None:
        self.backend = backend
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_texts = cache_texts
        self._cache_lock = threading.Lock()  # encode() may run on another thread
        # Per event loop: a server has one, but an app may be served from several (a test
        # client's portal thread beside the test's loop), and a future belongs to one loop.
        self._pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pending] = (
            weakref.WeakKeyDictionary()
        )
        self.batches = 0  # model calls made for vectors(): what the batching saves
        self.encoded = 0

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def dim(self) -> int:
        return self.backend.dim

    async def start(self) -> None:
        await asyncio.to_thread(self.backend.start)

    async def close(self) -> None:
        pending = self._pending.pop(asyncio.get_running_loop(), None)
        for worker in list(pending.workers) if pending is not None else ():
            await stopping.stop(worker)
        await asyncio.to_thread(self.backend.close)

    # -- the turn's way: awaited, batched --------------------------------------------------
    async def vector_and_intent(
        self, text: str, ask: IntentAsk
    ) -> tuple[np.ndarray, Scored | None]:
        """``text``'s vector and the prediction of the intent model saved in ``ask``'s
        directory (with its hash), in the next batch; None where the backend does not
        score intent models. Not cached: the NLU engine caches what it makes of both."""
        pending = self._for_loop()
        key = (text, *ask)
        future = pending.jobs.get(key)
        if future is None:
            future = pending.jobs[key] = asyncio.get_running_loop().create_future()
        self._work(pending)
        return await asyncio.shield(future)

    def prefetch(self, texts: list[str]) -> None:
        """Put ``texts`` in the next batch without starting one: they ride with the batch
        that the turn's intent model starts (one trip to the encoder, one pass over the
        model's weights, which is most of what a short text costs), or with ``flush`` or the
        next ``vectors``. Their vectors then come from the cache."""
        found = self._cached(texts)
        pending = self._for_loop()
        for text in texts:
            if text in found or text in pending.queue or text in pending.running:
                continue
            future = pending.queue[text] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_seen)  # nobody may await it: a failure is not news

    def flush(self) -> None:
        """Start encoding what ``prefetch`` queued, if no batch is under way."""
        pending = self._for_loop()
        if pending.queue:
            self._work(pending)

    def _for_loop(self) -> _Pending:
        loop = asyncio.get_running_loop()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = _Pending()
        return pending

    def _work(self, pending: _Pending) -> None:
        """A worker for the queued texts: the first, or a second beside one under way once
        the texts would fill half a batch (fewer cost the encoder nearly as much)."""
        workers = pending.workers
        if not workers or (len(workers) < IN_FLIGHT and pending.backlog() >= SECOND_BATCH):
            worker = asyncio.create_task(self._batches(pending))
            workers.add(worker)

    async def vectors(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        found = self._cached(texts)
        loop = asyncio.get_running_loop()
        pending = self._for_loop()
        waits: dict[str, asyncio.Future[np.ndarray]] = {}
        for text in texts:
            if text in found or text in waits:
                continue
            future = pending.running.get(text) or pending.queue.get(text)
            if future is None:
                future = loop.create_future()
                pending.queue[text] = future
            waits[text] = future
        if waits:
            self._work(pending)
            for text, future in waits.items():
                found[text] = await asyncio.shield(future)
        return np.array([found[t] for t in texts])  # np.stack costs 4x as much for a few rows

    async def _batches(self, pending: _Pending) -> None:
        try:
            while pending.queue or pending.jobs:
                if len(pending.workers) > 1 and pending.backlog() < SECOND_BATCH:
                    return  # the batch under way takes them when it is done
                await self._batch(pending)
        finally:
            # Before any await: a text queued from now on starts a new worker.
            pending.workers.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _batch(self, pending: _Pending) -> None:
        batch = list(pending.queue)[:MAX_BATCH]
        mine = {text: pending.queue.pop(text) for text in batch}
        jobs = self._jobs_for(pending, batch, mine)
        pending.running.update(mine)
        rows = {text: row for row, text in enumerate(batch)}
        try:
            vectors, scored = await self.backend.vectors_and_intents(
                batch, [(rows[key[0]], *key[1:]) for key in jobs]
            )
        except BaseException as exc:  # every waiter learns why; the next batch retries
            for future in mine.values():
                if not future.done():
                    future.set_exception(exc)
            for job in jobs.values():
                if not job.done():
                    job.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        finally:
            for text, future in mine.items():
                if pending.running.get(text) is future:
                    del pending.running[text]
        self.batches += 1
        self.encoded += len(batch)
        self._remember(batch, vectors)
        for text, vector in zip(batch, vectors, strict=True):
            waiting = mine.get(text)
            if waiting is not None and not waiting.done():
                waiting.set_result(vector)
        for (key, job), found in zip(jobs.items(), scored, strict=True):
            if not job.done():
                job.set_result((vectors[rows[key[0]]], found))

    @staticmethod
    def _jobs_for(
        pending: _Pending, batch: list[str], mine: dict[str, asyncio.Future[np.ndarray]]
    ) -> dict[JobKey, asyncio.Future[tuple[np.ndarray, Scored | None]]]:
        """The jobs that go with ``batch``, their texts added to it while there is room
        (encoded again if another caller had one already: a job needs its vector here)."""
        taken = {}
        in_batch = set(batch)
        for key in list(pending.jobs):
            text = key[0]
            if text not in in_batch:
                if len(batch) >= MAX_BATCH:
                    continue
                batch.append(text)
                in_batch.add(text)
                queued = pending.queue.pop(text, None)
                if queued is not None:
                    mine[text] = queued
            taken[key] = pending.jobs.pop(key)
        return taken

    # -- everyone else's way: blocking ---------------------------------------------------------
    def encode(self, texts: list[str], *, remember: bool = True) -> np.ndarray:
        """Vectors of ``texts`` on the calling thread (never the event loop's on the path
        of a turn): a model call for the texts not in the cache. ``remember=False``: bulk
        texts (articles being indexed) that would only push questions out of the cache."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        found = self._cached(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            vectors = self.backend.encode(missing)
            if remember:
                self._remember(missing, vectors)
            found.update(zip(missing, vectors, strict=True))
        return np.array([found[t] for t in texts])

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def _cached(self, texts: list[str]) -> dict[str, np.ndarray]:
        found = {}
        with self._cache_lock:
            for text in texts:
                vector = self._cache.get(text)
                if vector is not None:
                    self._cache.move_to_end(text)
                    found[text] = vector
        return found

    def _remember(self, texts: list[str], vectors: np.ndarray) -> None:
        with self._cache_lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._cache[text] = vector
                if len(self._cache) > self._cache_texts:
                    self._cache.popitem(last=False)


def _seen(future: asyncio.Future[np.ndarray]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it as never retrieved
