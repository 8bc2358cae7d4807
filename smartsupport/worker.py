"""The background jobs of one server process: outbox deliveries and the overflow sweep.

    Worker(services).start()    from the app lifespan; ``await worker.stop()`` on shutdown
    one pass                    run the outbox entries that are due (``outbox.run_due``, in
                                batches until none are left), then, at most every
                                ``SWEEP_EVERY`` seconds, the overflow sweep
                                (``handoff.overflow.sweep_overflow``)
    between passes              sleep ``outbox_poll_seconds``, or less when work was added
                                in this process (``services.outbox_due``)

Several processes may run workers at once: outbox rows are leased, and the sweep re-checks
each conversation under its lock. A failing pass is logged and retried; the worker outlives
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from smartsupport import outbox
from smartsupport.errors import SmartsupportError
from smartsupport.handoff.overflow import sweep_overflow
from smartsupport.ids import new_id
from smartsupport.services import Services

log = logging.getLogger(__name__)
SWEEP_EVERY = 15.0  # seconds between overflow sweeps in one process


class Worker:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.name = f"w-{new_id()[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._last_sweep = float("-inf")

    def start(self) -> Worker:
        self._task = asyncio.create_task(self._loop(), name="smartsupport-worker")
        return self

    async def stop(self) -> None:
        """Stop; an entry in flight is finished or, if cancelled, retried later."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def run_once(self) -> None:
        while await outbox.run_due(self.services, worker=self.name) >= outbox.BATCH:
            pass
        clock = time.monotonic()
        if clock - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = clock
            await sweep_overflow(self.services)

    async def _loop(self) -> None:
        due = self.services.outbox_due
        while True:
            due.clear()
            try:
                await self.run_once()
            except SmartsupportError as exc:
                log.warning("background pass failed, retrying: %s", exc)
            except Exception:  # noqa: BLE001 - the worker must outlive any one bad pass
                log.exception("background pass failed unexpectedly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(due.wait(), self.services.settings.outbox_poll_seconds)
