"""The background jobs of one server process: outbox deliveries, the sweep, the email
channel's mailbox readers (one ``channels.email_poller.MailboxPoller`` each) and, in a task
of their own, the leased jobs of ``jobs.py`` (knowledge ingestion, retraining, the LLM check
of automated resolutions: ``job_runner.JobRunner`` with ``JOB_HANDLERS``), so a long one
never delays a delivery.

    Worker(services).start()    from the app lifespan; ``await worker.stop()`` on shutdown
    the delivery loop           run the outbox entries that are due (``outbox.run_due``, in
                                batches until none are left) and the periodic checks (the
                                LLM check of automated resolutions, the retention purge);
                                then sleep ``outbox_poll_seconds``, or less when work was
                                added in this process (``services.outbox_due``)
    the sweep loop              every ``SWEEP_EVERY`` seconds, in a task of its own: the
                                overflow sweep (``handoff.overflow.sweep_overflow``), the
                                transcript index's catch-up (``inbox.search_index``),
                                customer memory (``inbox.memory``; the LLM's summaries in a
                                task of their own, ``inbox.memory_summaries``), the
                                analytics rollup and its daily sums; the index and the
                                rollup in paced rounds (``pacing.py``), which take seconds
                                under load and so never share a loop with deliveries
    run_once()                  all of it once, in that order (tests)

Several processes may run workers at once: outbox rows are leased, and the sweep re-checks
each conversation under its lock. A failing pass is logged and retried; the worker outlives
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from smartsupport import (
    analytics_daily,
    analytics_rollup,
    outbox,
    resolution_checks,
    retention,
    stopping,
)
from smartsupport.channels.email_config import email_accounts
from smartsupport.channels.email_poller import MailboxPoller
from smartsupport.errors import SmartsupportError
from smartsupport.handoff.overflow import sweep_overflow
from smartsupport.ids import new_id
from smartsupport.inbox import memory, memory_summaries, search_index
from smartsupport.job_runner import JobHandler, JobRunner
from smartsupport.jobs import KINDS as JOB_KINDS
from smartsupport.knowledge import ingest_jobs
from smartsupport.llm.chain import LLMStep
from smartsupport.pacing import Pace
from smartsupport.review import retrain_jobs
from smartsupport.services import Services

log = logging.getLogger(__name__)
SWEEP_EVERY = 15.0  # seconds between overflow sweeps in one process
ROLLUP_PER_PASS = 2000  # conversations rolled up per sweep (a backfill takes several)
BACKGROUND_SHARE = 0.25  # of the event loop's time, at most, for the sweep's catch-ups
JOB_HANDLERS: dict[str, JobHandler] = {
    ingest_jobs.KIND: ingest_jobs.run,  # a workspace's articles folder
    retrain_jobs.KIND: retrain_jobs.run,  # retraining from the review queue
    resolution_checks.KIND: resolution_checks.run,  # the LLM check of automated resolutions
}
assert set(JOB_HANDLERS) == JOB_KINDS, "every job kind has exactly one handler"


class Worker:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.name = f"w-{new_id()[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._sweeps: asyncio.Task[None] | None = None  # the sweep, in a loop of its own
        self._last_sweep = float("-inf")
        self._last_purge = float("-inf")
        self._last_check = float("-inf")  # the LLM check of automated resolutions
        self.summaries: asyncio.Task[None] | None = None  # memory_summaries.write_due
        self.mailboxes: list[MailboxPoller] = []  # the email channel's IMAP readers
        self.jobs = JobRunner(services, JOB_HANDLERS, self.name)

    def start(self) -> Worker:
        self._task = asyncio.create_task(self._loop(), name="smartsupport-worker")
        self._sweeps = asyncio.create_task(self._sweep_loop(), name="smartsupport-sweeps")
        self.jobs.start()
        accounts = email_accounts(self.services.settings, self.services.workspaces.values())
        self.mailboxes = [MailboxPoller(self.services, a).start() for a in accounts]
        return self

    async def stop(self) -> None:
        """Stop; an entry in flight is finished or, if cancelled, retried later; a job in
        flight is released for another process."""
        await self.jobs.stop()
        # The sweep first: it may start a summaries task, which must then be stopped too.
        await stopping.stop(self._sweeps)
        await stopping.stop(self.summaries)  # a memory asked about is asked again later
        for mailbox in self.mailboxes:
            await mailbox.stop()  # a mail in flight is read again, and answered once
        await stopping.stop(self._task)

    @property
    def done(self) -> bool:
        return any(t is not None and t.done() for t in (self._task, self._sweeps))

    async def run_once(self) -> None:
        """One pass of everything in order: the due outbox entries, the sweep when it is
        due, the periodic checks. The running worker does the same in two loops, so that a
        sweep's paced catch-ups never hold up a delivery (a WhatsApp or SMS reply is one)."""
        await self._deliver()
        clock = time.monotonic()
        if clock - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = clock
            await self.sweep()
        await self._periodic(clock)

    async def _deliver(self) -> None:
        while await outbox.run_due(self.services, worker=self.name) >= outbox.BATCH:
            pass

    async def sweep(self) -> None:
        """The overflow sweep and the catch-ups that follow every conversation."""
        await sweep_overflow(self.services)
        # The transcript index follows new messages (inbox/search_index.py, issue 16).
        # Both catch-ups in small rounds that leave the event loop to the conversations
        # (pacing.py): in one go, they doubled every turn's latency for a second or two.
        await search_index.catch_up(
            self.services.store,
            blind=search_index.blind_for(self.services.store),
            batch=search_index.PACED_BATCH,
            pace=Pace(BACKGROUND_SHARE),
        )
        await memory.catch_up(self.services.store)  # customer memory (inbox/memory.py)
        self._summarise()  # and the LLM's summaries of it, when there are LLM steps
        # The analytics rollup follows every change (analytics_rollup.py, migration
        # 0031); a bounded share per pass.
        await analytics_rollup.catch_up(
            self.services.store,
            limit=ROLLUP_PER_PASS,
            batch=analytics_rollup.PACED_BATCH,
            pace=Pace(BACKGROUND_SHARE),
        )
        # Then the daily sums of the days that can no longer change (migration 0036).
        window = timedelta(hours=self.services.settings.recontact_window_hours)
        await analytics_daily.settle(self.services.store, window, datetime.now(UTC))

    async def _periodic(self, clock: float) -> None:
        every = resolution_checks.EVERY.total_seconds()
        if self.services.settings.resolution_check and clock - self._last_check >= every:
            self._last_check = clock
            # A language model reads the new automated resolutions, in a leased job of its
            # own (resolution_checks.py), so slow model calls never hold this loop.
            await resolution_checks.ask(self.services, datetime.now(UTC))
        # The retention purge (retention.py): at start, then every purge_interval_seconds.
        if clock - self._last_purge >= self.services.settings.purge_interval_seconds:
            self._last_purge = clock
            await retention.purge(self.services)

    def _summarise(self) -> None:
        """Start the LLM's memory summaries (inbox/memory_summaries.py) in a task of their
        own, one at a time: a slow model never holds the outbox."""
        steps = resolution_checks.steps_of(self.services)  # the answer chain's LLM steps
        if not steps or (self.summaries is not None and not self.summaries.done()):
            return
        self.summaries = asyncio.create_task(self._write_summaries(steps), name="summaries")

    async def _write_summaries(self, steps: list[LLMStep]) -> None:
        try:
            await memory_summaries.write_due(self.services.store, self.services.workspaces, steps)
        except SmartsupportError as exc:
            log.warning("memory summaries failed, retrying on the next pass: %s", exc)
        except Exception:  # noqa: BLE001 - the worker must outlive any one bad pass
            log.exception("memory summaries failed unexpectedly")

    async def _sweep_loop(self) -> None:
        while True:
            self._last_sweep = time.monotonic()
            try:
                await self.sweep()
            except SmartsupportError as exc:
                log.warning("background sweep failed, retrying: %s", exc)
            except Exception:  # noqa: BLE001 - the worker must outlive any one bad sweep
                log.exception("background sweep failed unexpectedly")
            stopping.stop_if_cancelled()
            await asyncio.sleep(max(0.0, self._last_sweep + SWEEP_EVERY - time.monotonic()))

    async def _loop(self) -> None:
        due = self.services.outbox_due
        while True:
            due.clear()
            try:
                await self._deliver()
                await self._periodic(time.monotonic())
            except SmartsupportError as exc:
                log.warning("background pass failed, retrying: %s", exc)
            except Exception:  # noqa: BLE001 - the worker must outlive any one bad pass
                log.exception("background pass failed unexpectedly")
            stopping.stop_if_cancelled()  # a delivery's client or a driver may have swallowed it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(due.wait(), self.services.settings.outbox_poll_seconds)
