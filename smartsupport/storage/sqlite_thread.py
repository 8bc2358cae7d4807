"""One thread that owns the SQLite connection; the event loop hands it whole jobs.

SQLite allows one writer at a time anyway, so a single connection on a single thread is the
fastest safe design: a Store method is one job (one thread hop for a whole transaction),
never a hop per statement. Jobs run in submission order.

Group commit: when jobs pile up while the thread is busy, it runs up to MAX_BATCH of them in
one transaction, each in its own savepoint (a failing job undoes only itself), commits once
and wakes the event loop once. Under load this saves a commit and a loop wake-up per call.

A multi-step transaction (``SqlDatabase.transaction()``) owns the connection from BEGIN to
COMMIT/ROLLBACK: while it is open, jobs from anyone else are set aside and run when it ends.

Inline jobs: a turn's own small reads and its one write (``run(..., inline=True)``) run on
the calling thread, the event loop's, when the thread has nothing queued or running and no
transaction is open. Handing them over cost more than running them: a wake-up each way, and
the SQLite thread then waited for the GIL behind the busy event loop at every statement (a
turn's write took 5-10 ms at 100 messages a second for well under 1 ms of work; issue 18).
Ordering holds: nothing submitted earlier is still waiting, and a job submitted meanwhile
(from another thread) waits for the connection. An inline job never waits for another
process's write lock (a command-line import, say) on the event loop: it runs with no busy
timeout, and if the database is locked it goes to the thread, which waits as usual.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from smartsupport.errors import BackendError

# Job kinds: BEGIN/END open and close a helper transaction; STEP is everything else.
BEGIN, STEP, END = 1, 2, 3
# Jobs committed together at most; bounds how long the first of them waits.
MAX_BATCH = 64


class _Job:
    __slots__ = ("fn", "args", "future", "loop", "owner", "kind")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
        owner: object,
        kind: int,
    ) -> None:
        self.fn, self.args, self.future, self.loop = fn, args, future, loop
        self.owner, self.kind = owner, kind


class SqliteThread:
    def __init__(
        self, opener: Callable[[], sqlite3.Connection], name: str, *, busy_timeout_ms: int
    ) -> None:
        self._opener = opener
        self._busy_timeout = f"PRAGMA busy_timeout = {int(busy_timeout_ms)}"
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._open = False
        # The task inside ``transaction()`` while it owns the connection: a plain call from
        # that very task would wait behind its own transaction forever, so it fails instead.
        self.transaction_task: asyncio.Task[Any] | None = None
        self._conn: sqlite3.Connection | None = None
        self._using = threading.Lock()  # held while a job runs, on either thread
        self._counting = threading.Lock()
        self._outstanding = 0  # jobs submitted and not yet run
        self._held = False  # a helper transaction is open on the thread
        self._not_waiting = False  # busy_timeout is 0: an inline job ran last

    @property
    def is_open(self) -> bool:
        return self._open

    async def start(self) -> None:
        """Start the thread and open the connection there; raises what opening raised."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(loop, ready), name=self._name, daemon=True
        )
        self._thread.start()
        await ready
        self._open = True

    async def stop(self) -> None:
        if not self._open:
            return
        self._open = False
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put(("stop", loop, done))  # a tuple: the one non-_Job item
        await done

    async def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        owner: object = None,
        kind: int = STEP,
        inline: bool = False,
    ) -> Any:
        """Run ``fn(connection, *args)`` on the thread and return its result; ``inline``:
        on this thread instead when the connection is free (see the module's docstring),
        for a job that takes well under a millisecond."""
        if owner is None and self.transaction_task is not None:
            if asyncio.current_task() is self.transaction_task:
                raise BackendError(
                    "This task holds an open SQLite transaction; run statements through the "
                    "object that transaction() yielded, or they would wait for it forever."
                )
        if inline and kind == STEP and owner is None and self._claim():
            try:
                with self._using:
                    conn = self._conn
                    assert conn is not None
                    if not self._not_waiting:
                        # Left so until the thread's next job: back to back, the turns'
                        # inline jobs set it once, not twice each.
                        conn.execute("PRAGMA busy_timeout = 0")
                        self._not_waiting = True
                    try:
                        return fn(conn, *args)
                    except sqlite3.OperationalError as exc:
                        if not _locked(exc):
                            raise
                        # Nothing was written: a write job takes the lock first. The thread
                        # runs it again, waiting for the lock as long as the store allows.
            finally:
                with self._counting:
                    self._outstanding -= 1
        return await self.submit(fn, *args, owner=owner, kind=kind)

    def _claim(self) -> bool:
        """Whether the connection is free for an inline job, and if so, take it."""
        with self._counting:
            if self._outstanding or self._held or self._conn is None or not self._open:
                return False
            self._outstanding += 1
            return True

    def submit(
        self, fn: Callable[..., Any], *args: Any, owner: object = None, kind: int = STEP
    ) -> asyncio.Future[Any]:
        """Queue ``fn(connection, *args)``; the future resolves when it has run. The job
        runs even if nobody awaits the future any more."""
        if not self._open:
            raise BackendError("The SQLite store is closed (or was never connected).")
        future = asyncio.get_running_loop().create_future()
        with self._counting:
            self._outstanding += 1
        self._queue.put(_Job(fn, args, future, future.get_loop(), owner, kind))
        return future

    # -- the thread ----------------------------------------------------------------------
    def _main(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._opener()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            _deliver(loop, [(ready, None, exc)])
            return
        self._conn = conn
        _deliver(loop, [(ready, None, None)])
        set_aside: collections.deque[Any] = collections.deque()
        owner: object = None
        try:
            while True:
                if owner is None and set_aside:
                    job = set_aside.popleft()
                else:
                    job = self._queue.get()
                if isinstance(job, tuple):  # the stop request
                    _, stop_loop, done = job
                    break
                if owner is not None and job.owner is not owner:
                    set_aside.append(job)
                    continue
                if owner is None and job.kind == STEP and not set_aside:
                    batch = self._take_batch(job, set_aside)
                    if len(batch) > 1:
                        with self._using:
                            self._wait_for_locks(conn)
                            outcomes = _run_batch(conn, batch)
                        self._ran(len(batch), owner)
                        _deliver_all(outcomes)
                        continue
                if job.kind == BEGIN:
                    owner = job.owner
                settled: tuple[asyncio.Future[Any], Any, BaseException | None]
                try:
                    with self._using:
                        self._wait_for_locks(conn)
                        result = job.fn(conn, *job.args)
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                    if job.kind == BEGIN:
                        owner = None
                    settled = (job.future, None, exc)
                else:
                    settled = (job.future, result, None)
                if job.kind == END:
                    owner = None
                self._ran(1, owner)
                _deliver(job.loop, [settled])
        finally:
            with self._counting, self._using:
                self._conn = None
                if conn.in_transaction:
                    conn.rollback()
                conn.close()
        closed = BackendError("The SQLite store was closed while this call waited.")
        while set_aside:
            job = set_aside.popleft()
            if isinstance(job, _Job):
                _deliver(job.loop, [(job.future, None, closed)])
        while not self._queue.empty():
            job = self._queue.get()
            if isinstance(job, _Job):
                _deliver(job.loop, [(job.future, None, closed)])
        _deliver(stop_loop, [(done, None, None)])

    def _ran(self, jobs: int, owner: object) -> None:
        with self._counting:
            self._outstanding -= jobs
            self._held = owner is not None

    def _wait_for_locks(self, conn: sqlite3.Connection) -> None:
        """The thread's jobs wait for another process's write lock; inline ones do not."""
        if self._not_waiting:
            conn.execute(self._busy_timeout)
            self._not_waiting = False

    def _take_batch(self, first: _Job, set_aside: collections.deque[Any]) -> list[_Job]:
        """``first`` plus the plain jobs already queued behind it (up to MAX_BATCH). The
        first job that cannot join (a helper transaction, the stop request) is set aside
        to run next."""
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, tuple) or job.kind != STEP or job.owner is not None:
                set_aside.append(job)
                break
            batch.append(job)
        return batch


Outcome = tuple[_Job, Any, BaseException | None]


def _run_batch(conn: sqlite3.Connection, batch: list[_Job]) -> list[Outcome]:
    """Group commit: run the jobs in one transaction, each inside its own savepoint so a
    failing job undoes only its own changes, and commit once. The outcomes are handed out
    only after the commit, so nobody sees a success that was not made durable."""
    outcomes: list[Outcome] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        return [(job, None, exc) for job in batch]
    for position, job in enumerate(batch):
        conn.execute("SAVEPOINT job")
        try:
            result = job.fn(conn, *job.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            if not conn.in_transaction:
                # SQLite rolled the whole transaction back (I/O error, full disk): the
                # earlier jobs are lost too; the rest run on their own.
                lost = BackendError(f"SQLite rolled back a batch of writes: {exc}")
                outcomes = [(j, None, lost) for j, _, _ in outcomes]
                outcomes.append((job, None, exc))
                for rest in batch[position + 1 :]:
                    outcomes += _run_batch(conn, [rest])
                return outcomes
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            outcomes.append((job, None, exc))
        else:
            conn.execute("RELEASE job")
            outcomes.append((job, result, None))
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        outcomes = [(job, None, exc) for job, _, _ in outcomes]
    return outcomes


def _locked(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, extended codes included."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _deliver_all(outcomes: list[Outcome]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
    for job, result, exc in outcomes:
        by_loop.setdefault(job.loop, []).append((job.future, result, exc))
    for loop, settled in by_loop.items():
        _deliver(loop, settled)


def _deliver(loop: asyncio.AbstractEventLoop, settled: list[Any]) -> None:
    """Wake the event loop once for a list of (future, result, exception)."""
    try:
        loop.call_soon_threadsafe(_settle, settled)
    except RuntimeError:  # the loop is closed; nobody is waiting any more
        pass


def _settle(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, exc in settled:
        if future.cancelled():
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
