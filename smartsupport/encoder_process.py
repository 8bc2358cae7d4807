"""The packaged sentence encoder in a child process, so that the model's work (a pure-Python
tokenizer and numpy, about half of a turn's CPU) runs on the second core instead of holding
the server's GIL (issue 18; ``SMARTSUPPORT_ENCODER``, docs/deployment.md).

    backend = EncoderProcess()
    backend.start()           spawn the child; it loads the model and says it is ready
    backend.encode(texts)     send texts, receive their vectors (blocking, thread-safe)
    await backend.vectors_and_intents(texts, jobs)
                              the vectors, and for each job the intent model's prediction
                              for one of the texts, with the message's language and
                              sentiment: the model is loaded in the child from its directory,
                              so that this reading (a sixth of a turn's CPU) also leaves the
                              server's GIL (None: the child could not load the model)
    backend.close()           ask the child to stop; kill it if it does not

The child answers batches in the order they were sent, so a second batch can wait in the
pipe while it works on the first. A child that dies (killed, out of memory) is started again
on the next call, and the texts of every batch it had are sent again once; a child that
cannot start raises ``EncoderUnavailable`` with its reason. The child exits by itself when
the server's end of the pipe closes, so a server killed with SIGKILL leaves no encoder
behind.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from smartsupport.embeddings import MODEL_NAME, Embedder
from smartsupport.encoding import EncoderBackend, IntentJob, InThread, Scored
from smartsupport.errors import BackendUnavailable, ConfigurationError

log = logging.getLogger(__name__)
START_SECONDS = 120.0  # loading the model takes 1-3 s; a loaded machine may take far longer
STOP_SECONDS = 5.0
CHILD_MODELS = 8  # intent models the child keeps loaded: one per workspace being served


class EncoderUnavailable(BackendUnavailable):
    """The encoder process could not be started, or died twice on one batch."""


def _serve(conn: Connection, turns: Connection) -> None:
    """The child: load the model, then encode each batch it is sent, on either connection
    (``conn``: blocking callers; ``turns``: the server's event loop), until told to stop."""
    # Ctrl-C in a terminal reaches the whole process group: the server shuts down in order
    # and closes this child itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        embedder = Embedder(threads=1)
        embedder.encode(["warm up"])
    except BaseException as exc:  # noqa: BLE001 - reported to the server, which raises it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    try:
        conn.send(("ready", os.getpid()))
    except OSError:
        return  # the server stopped while this child was starting
    models = _Models()
    while True:
        for ready in wait([conn, turns]):
            assert isinstance(ready, Connection)
            try:
                request = ready.recv()
            except (EOFError, OSError):
                return  # the server is gone
            if request is None:
                return
            try:
                if isinstance(request, list):  # texts (blocking callers): their vectors
                    ready.send(("ok", embedder.encode(request)))
                else:  # (texts, jobs): their vectors and the jobs' predictions
                    texts, jobs = request
                    vectors = embedder.encode(texts)
                    ready.send(("ok", (vectors, [models.predict(j, vectors, texts) for j in jobs])))
            except BaseException as exc:  # noqa: BLE001 - a bad batch must not end the child
                ready.send(("error", f"{type(exc).__name__}: {exc}"))


class _Models:
    """The child's intent models, loaded from their directories on first use (plain arrays:
    milliseconds) and kept for the next turns."""

    def __init__(self) -> None:
        # None: that directory did not hold that model; not tried again every turn.
        self._loaded: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def predict(self, job: IntentJob, vectors: np.ndarray, texts: list[str]) -> Scored | None:
        """The prediction, or None when the model cannot be had here (its directory was
        replaced by a retraining): the server then scores the text itself."""
        # Here, not at the top: ``serve`` imports this module to start the child before it
        # imports the rest of the product, and the intent model's modules would delay that.
        from smartsupport.nlu import sentiment, training

        row, directory, model_hash, message, default = job
        key = (directory, model_hash)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            model = self._loaded[key]
        else:
            try:
                model = training.load(Path(directory))
            except Exception:  # noqa: BLE001 - the server has the model and scores it
                model = None
            if model is not None and model.meta.get("hash") != model_hash:
                model = None
            self._loaded[key] = model
            if len(self._loaded) > CHILD_MODELS:
                self._loaded.popitem(last=False)
        if model is None:
            return None
        try:
            found = model.predict_vectors(vectors[row : row + 1], [texts[row]])[0]
            # The message's language and sentiment too (the language detector and VADER were
            # a twentieth of the server's GIL), read from the same vector as the server's.
            guesses, _, feeling = sentiment.read(message, default, vectors[row])
        except Exception:  # noqa: BLE001 - the server reads it again and reports what fails
            return None
        return Scored(
            found.ranking,
            found.confidence,
            found.out_of_scope,
            found.in_scope_score,
            guesses,
            feeling,
        )


class EncoderProcess(EncoderBackend):
    name = MODEL_NAME
    dim = 512

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._turns: socket.socket | None = None  # the event loop's connection to the child
        self._stream: _Stream | None = None
        self._opening: asyncio.Future[None] | None = None
        self._lock = threading.Lock()  # one batch on the blocking connection at a time
        self.starts = 0
        self.intents_scored = 0  # predictions the child made (the rest: the server's own)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        with self._lock:
            if not self._alive():
                self._spawn()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if not self._alive():
                self._spawn()
            try:
                return self._round_trip(texts)
            except (EOFError, OSError) as exc:
                log.warning("the encoder process died (%s); starting it again", exc)
                self._stop()
                self._spawn()
                try:
                    return self._round_trip(texts)
                except (EOFError, OSError) as again:
                    self._stop()
                    raise EncoderUnavailable(
                        f"the encoder process died twice on one batch ({again})"
                    ) from again

    async def vectors(self, texts: list[str]) -> np.ndarray:
        return (await self.vectors_and_intents(texts, []))[0]

    async def vectors_and_intents(
        self, texts: list[str], jobs: list[IntentJob]
    ) -> tuple[np.ndarray, list[Scored | None]]:
        """One batch over the event loop's own connection: no thread hand-off, and the
        server's GIL is free while the child works. That connection belongs to the first
        loop that uses it; another loop (a test client's portal thread) sends its texts over
        the blocking connection, from a thread, and scores its jobs itself. A child that dies
        is started again and the batch, jobs included, sent again once."""
        owner = self._stream.loop if self._stream is not None else None
        if owner is None and self._opening is not None:
            owner = self._opening.get_loop()
        if owner is not None and owner is not asyncio.get_running_loop():
            return await asyncio.to_thread(self.encode, texts), [None] * len(jobs)
        request = (list(texts), list(jobs))
        starts = self.starts
        try:
            vectors, scored = await self._exchange(request)
        except (EOFError, OSError, asyncio.IncompleteReadError) as exc:
            log.warning("the encoder process died (%s); starting it again", exc)
            await asyncio.to_thread(self._restart, starts)
            try:
                vectors, scored = await self._exchange(request)
            except (EOFError, OSError, asyncio.IncompleteReadError) as again:
                raise EncoderUnavailable(
                    f"the encoder process died twice on one batch ({again})"
                ) from again
        self.intents_scored += sum(found is not None for found in scored)
        return vectors, scored

    async def _exchange(
        self, request: tuple[list[str], list[IntentJob]]
    ) -> tuple[np.ndarray, list[Scored | None]]:
        stream = await self._open_stream()
        if stream.reading.done():
            # The child closed its end between batches (killed): start it again.
            raise EOFError("the encoder process closed its connection")
        # multiprocessing's Connection framing, which the child reads: a 4-byte big-endian
        # length, then the pickle. The child answers in order; ``_replies`` hands each answer
        # to the batch that waits for it, so a second batch can wait beside the first.
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        reply: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        stream.waiting.append(reply)
        stream.writer.write(struct.pack("!i", len(payload)) + payload)
        status, result = await reply
        if status != "ok":
            raise EncoderUnavailable(f"the encoder process failed on a batch: {result}")
        vectors, scored = result
        return np.asarray(vectors, dtype=np.float32), scored

    async def _open_stream(self) -> _Stream:
        """The event loop's stream to the child, opened by the first batch that needs it;
        a batch sent beside it waits for the same opening, not a second stream."""
        if self._stream is None:
            if self._opening is None:
                self._opening = asyncio.ensure_future(self._connect())
            opening = self._opening
            try:
                await asyncio.shield(opening)
            finally:
                if self._opening is opening and opening.done():
                    self._opening = None
        if self._stream is None:
            raise EOFError("the encoder process stopped while its stream was opened")
        return self._stream

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._alive():
            await asyncio.to_thread(self._restart, self.starts)
        assert self._turns is not None
        # A duplicate of the socket: the stream owns (and closes) its own descriptor.
        reader, writer = await asyncio.open_connection(sock=self._turns.dup())
        waiting: collections.deque[asyncio.Future[tuple[str, Any]]] = collections.deque()
        self._stream = _Stream(loop, writer, waiting, loop.create_task(_replies(reader, waiting)))

    def _restart(self, starts: int) -> None:
        """Start the child again, unless another caller has since ``starts`` did."""
        with self._lock:
            if self.starts == starts or not self._alive():
                self._stop()
                self._spawn()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _round_trip(self, texts: list[str]) -> np.ndarray:
        assert self._conn is not None
        self._conn.send(list(texts))
        status, payload = self._conn.recv()
        if status != "ok":
            raise EncoderUnavailable(f"the encoder process failed on a batch: {payload}")
        return np.asarray(payload, dtype=np.float32)

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _spawn(self) -> None:
        process, conn, turns = _early.pop() if _early else _launch()
        try:
            if not conn.poll(START_SECONDS):
                raise EncoderUnavailable(
                    f"the encoder process did not start in {START_SECONDS:.0f} s"
                )
            try:
                status, detail = conn.recv()
            except EOFError:
                raise EncoderUnavailable(
                    f"the encoder process exited while starting (exit code {process.wait(5)})"
                ) from None
            if status != "ready":
                raise EncoderUnavailable(f"the encoder process could not load the model: {detail}")
        except BaseException:
            conn.close()
            turns.close()
            process.kill()
            process.wait()
            raise
        self._process, self._conn, self._turns = process, conn, turns
        self.starts += 1

    def _stop(self) -> None:
        process, conn, turns, stream = self._process, self._conn, self._turns, self._stream
        self._process, self._conn, self._turns, self._stream = None, None, None, None
        if stream is not None:
            # Only the loop that opened it may close the transport and stop its reader;
            # dropping our reference is enough otherwise, the descriptor closes with it.
            if stream.loop.is_running():
                stream.loop.call_soon_threadsafe(stream.close)
        if turns is not None:
            turns.close()
        if conn is not None:
            try:
                conn.send(None)
            except OSError:
                pass
            conn.close()
        if process is not None:
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(slots=True)
class _Stream:
    """The event loop's connection to the child: the batches sent, waiting for answers."""

    loop: asyncio.AbstractEventLoop
    writer: asyncio.StreamWriter
    waiting: collections.deque[asyncio.Future[tuple[str, Any]]]
    reading: asyncio.Task[None]  # ``_replies``

    def close(self) -> None:
        self.writer.close()
        self.reading.cancel()


async def _replies(
    reader: asyncio.StreamReader, waiting: collections.deque[asyncio.Future[tuple[str, Any]]]
) -> None:
    """Each answer of the child to the batch sent first among those waiting. A batch whose
    caller gave up (cancelled) still has its answer read, so the next one gets its own."""
    try:
        while True:
            (size,) = struct.unpack("!i", await reader.readexactly(4))
            answer = pickle.loads(await reader.readexactly(size))
            reply = waiting.popleft()
            if not reply.done():
                reply.set_result(answer)
    except BaseException as exc:
        # The child died or the stream was closed: every batch still waiting is sent again
        # by its caller (``vectors_and_intents``) to a new child.
        lost = exc if isinstance(exc, (EOFError, OSError, asyncio.IncompleteReadError)) else None
        while waiting:
            reply = waiting.popleft()
            if not reply.done():
                reply.set_exception(lost or EOFError("the encoder stream was closed"))
        if lost is None:
            raise


_Launched = tuple["subprocess.Popen[bytes]", Connection, socket.socket]
_early: list[_Launched] = []  # started by prestart(), taken by the first start()


def _launch() -> _Launched:
    """Start a child; it says "ready" on the connection once its model is loaded."""
    # A fresh interpreter running this module, not multiprocessing's spawn: that would
    # import the server's __main__ (the whole CLI) into the child first. The connections
    # are socket pairs; multiprocessing's Connection frames the messages on them.
    ours, theirs = socket.socketpair()
    turns, their_turns = socket.socketpair()
    fds = [theirs.fileno(), their_turns.fileno()]
    process = subprocess.Popen(
        [sys.executable, "-m", "smartsupport.encoder_process", *map(str, fds)],
        pass_fds=fds,
        stdin=subprocess.DEVNULL,
    )
    theirs.close()  # so that the child's exit shows here as EOF
    their_turns.close()
    return process, Connection(ours.detach()), turns


def prestart(where: str) -> None:
    """Start the encoder process now if ``SMARTSUPPORT_ENCODER`` (``where``) asks for one:
    ``serve`` calls this before it imports the rest of the product, so the child loads its
    model (about a second) while the server imports and prepares, instead of after."""
    if not _early and isinstance(encoder_backend(where), EncoderProcess):
        _early.append(_launch())


def encoder_backend(where: str) -> EncoderBackend:
    """The backend ``SMARTSUPPORT_ENCODER`` names (settings_operations.py)."""
    if where == "auto":
        where = "process" if (os.cpu_count() or 1) >= 2 else "thread"
    if where == "process":
        return EncoderProcess()
    if where == "thread":
        return InThread()
    raise ConfigurationError(f"SMARTSUPPORT_ENCODER={where!r}: use auto, process or thread")


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), Connection(int(sys.argv[2])))
