"""One thread that owns the SQLite connection; the event loop hands it whole jobs.

SQLite allows one writer at a time anyway, so a single connection on a single thread is the
fastest safe design: a Store method is one job (one thread hop for a whole transaction),
never a hop per statement. Jobs run in submission order.

A multi-step transaction (``SqlDatabase.transaction()``) owns the connection from BEGIN to
COMMIT/ROLLBACK: while it is open, jobs from anyone else are set aside and run when it ends.
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

_STOP = object()
BEGIN, STEP, END = 1, 2, 3


class _Job:
    __slots__ = ("fn", "args", "future", "loop", "owner", "kind")

    def __init__(self, fn, args, future, loop, owner, kind) -> None:  # noqa: ANN001
        self.fn, self.args, self.future, self.loop = fn, args, future, loop
        self.owner, self.kind = owner, kind


class SqliteThread:
    def __init__(self, opener: Callable[[], sqlite3.Connection], name: str) -> None:
        self._opener = opener
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._open = False
        # The task inside ``transaction()`` while it owns the connection: a plain call from
        # that very task would wait behind its own transaction forever, so it fails instead.
        self.transaction_task: asyncio.Task[Any] | None = None

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
        self._queue.put((_STOP, loop, done))
        await done

    async def run(
        self, fn: Callable[..., Any], *args: Any, owner: object = None, kind: int = STEP
    ) -> Any:
        """Run ``fn(connection, *args)`` on the thread and return its result."""
        if not self._open:
            raise BackendError("The SQLite store is closed (or was never connected).")
        if owner is None and self.transaction_task is not None:
            if asyncio.current_task() is self.transaction_task:
                raise BackendError(
                    "This task holds an open SQLite transaction; run statements through the "
                    "object that transaction() yielded, or they would wait for it forever."
                )
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(fn, args, future, loop, owner, kind))
        return await future

    # -- the thread ----------------------------------------------------------------------
    def _main(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._opener()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            _deliver(loop, ready, None, exc)
            return
        _deliver(loop, ready, None, None)
        set_aside: collections.deque[_Job] = collections.deque()
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
                if job.kind == BEGIN:
                    owner = job.owner
                try:
                    result = job.fn(conn, *job.args)
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                    if job.kind == BEGIN:
                        owner = None
                    _deliver(job.loop, job.future, None, exc)
                else:
                    _deliver(job.loop, job.future, result, None)
                if job.kind == END:
                    owner = None
        finally:
            if conn.in_transaction:
                conn.rollback()
            conn.close()
        closed = BackendError("The SQLite store was closed while this call waited.")
        while set_aside:
            job = set_aside.popleft()
            _deliver(job.loop, job.future, None, closed)
        while not self._queue.empty():
            job = self._queue.get()
            if isinstance(job, _Job):
                _deliver(job.loop, job.future, None, closed)
        _deliver(stop_loop, done, None, None)


def _deliver(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, result, exc)
    except RuntimeError:  # the loop is closed; nobody is waiting any more
        pass


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
