"""Runs the background jobs of ``jobs.py`` in one process, one at a time, beside the worker's
other work (worker.py starts it), so a retraining of a minute never delays a delivery.

    runner = JobRunner(services, handlers, name).start()    ...  await runner.stop()
    await runner.run_next()      claim the oldest runnable job and run it (tests, start-up)

A handler is ``async (services, job, progress) -> result`` and keeps the event loop free:
its CPU work runs in threads (``asyncio.to_thread``: embedding, training). ``progress(dict)``
records how far it got; the runner writes it with each renewal of the lease, every third of
``jobs.LEASE``. Outcomes:

    the handler returns           done, with its result
    RequestError, any other error failed, with the message (a bug is logged with its stack)
    BackendUnavailable            released: queued again, taken at the next pass
    the runner is stopped         released at once, so another process takes it now
    the process dies              the lease passes, another runner claims it

While it runs, a runner marks itself alive in the backplane (``ALIVE_KEY``), which lets a
queued job's status say whether any process is there to take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from smartsupport import jobs, stopping
from smartsupport.errors import BackendUnavailable, RequestError, SmartsupportError
from smartsupport.jobs import Job
from smartsupport.services import Services

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]
JobHandler = Callable[[Services, Job, Progress], Coroutine[Any, Any, dict[str, Any]]]

ALIVE_KEY = "jobs:runner"  # backplane key: the name of a runner seen within ALIVE_SECONDS
ALIVE_SECONDS = 45.0  # longer than a lease renewal (every 20 s) plus a poll


async def runner_alive(services: Services) -> str | None:
    """The name of a job runner seen lately (any process sharing the backplane), or None."""
    seen = await services.backplane.get(ALIVE_KEY)
    return seen.decode() if seen else None


class JobRunner:
    def __init__(self, services: Services, handlers: Mapping[str, JobHandler], name: str) -> None:
        self.services = services
        self.handlers = dict(handlers)
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self) -> JobRunner:
        self._task = asyncio.create_task(self._loop(), name="smartsupport-jobs")
        return self

    async def stop(self) -> None:
        """Stop; a job in flight is released (queued again) for another process."""
        if self._task is None:
            return
        await stopping.stop(self._task)

    async def run_next(self, job_id: str | None = None) -> Job | None:
        """Claim a runnable job (``job_id``: that one) and run it to its end; the job as it
        ended, or None when there was nothing to claim."""
        db = self.services.store
        job = await jobs.claim(db, self.name, kinds=frozenset(self.handlers), job_id=job_id)  # type: ignore[arg-type]
        if job is None:
            return None
        await self._run(job)
        return await jobs.get(db, job.id)  # type: ignore[arg-type]

    async def _run(self, job: Job) -> None:
        db: Any = self.services.store
        latest: dict[str, Any] = {}

        def progress(values: dict[str, Any]) -> None:
            latest.clear()
            latest.update(values)

        log.info("job %s %s of %s started (attempt %d)", job.kind, job.id, job.workspace_id,
                 job.attempts)  # fmt: skip
        work: asyncio.Task[dict[str, Any]] = asyncio.create_task(
            self.handlers[job.kind](self.services, job, progress)
        )
        lease = jobs.LEASE.total_seconds() / 3
        try:
            while True:
                done, _ = await asyncio.wait({work}, timeout=lease)
                if done:
                    break
                await self._alive()
                if not await jobs.renew(db, job, self.name, dict(latest) or None):
                    log.warning("job %s: lease lost to another runner; stopping it", job.id)
                    work.cancel()
                    await asyncio.gather(work, return_exceptions=True)
                    return
            result = work.result()
        except asyncio.CancelledError:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            with contextlib.suppress(Exception):  # the lease passing does the same, later
                await asyncio.shield(jobs.release(db, job, self.name, "its runner was stopped"))
            raise
        except BackendUnavailable as exc:
            log.warning("job %s %s: %s; queued again", job.kind, job.id, exc)
            await jobs.release(db, job, self.name, f"{type(exc).__name__}: {exc}")
            return
        except RequestError as exc:
            log.info("job %s %s refused: %s", job.kind, job.id, exc)
            await jobs.finish(db, job, self.name, error=exc.message, progress=latest or None)
            return
        except SmartsupportError as exc:
            log.warning("job %s %s failed: %s", job.kind, job.id, exc)
            await jobs.finish(db, job, self.name, error=str(exc), progress=latest or None)
            return
        except Exception as exc:  # noqa: BLE001 - a handler bug fails the job, not the runner
            log.exception("job %s %s failed unexpectedly", job.kind, job.id)
            error = f"{type(exc).__name__}: {exc}"
            await jobs.finish(db, job, self.name, error=error, progress=latest or None)
            return
        await jobs.finish(db, job, self.name, result=result, progress=latest or None)
        log.info("job %s %s done", job.kind, job.id)

    async def _alive(self) -> None:
        await self.services.backplane.set(ALIVE_KEY, self.name.encode(), ALIVE_SECONDS)

    async def _loop(self) -> None:
        poll = self.services.settings.outbox_poll_seconds
        while True:
            try:
                await self._alive()
                while await self.run_next() is not None:
                    pass
            except SmartsupportError as exc:
                log.warning("background jobs pass failed, retrying: %s", exc)
            except Exception:  # noqa: BLE001 - the runner must outlive any one bad pass
                log.exception("background jobs pass failed unexpectedly")
            stopping.stop_if_cancelled()
            await asyncio.sleep(poll)
