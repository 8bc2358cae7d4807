"""Stopping a background task for certain.

A background loop (the worker's delivery loop and sweep, the job runner, a mailbox reader, a
follower) is stopped by cancelling its task and waiting for it. That wait hangs for ever if
the cancel is swallowed, and a cancel can be swallowed without any code of ours catching it:

- Python 3.11's ``asyncio.wait_for`` returns its inner result when the inner awaitable
  finishes in the same pass of the event loop as the cancel arrives (CPython gh-86296, fixed
  in 3.12). aioimaplib's IDLE loop awaits one every fraction of a second: a server's shutdown
  hung on a mailbox reader that simply went on reading (CI, stop 29).
- A driver turns the cancel into its own error, which a loop that must outlive bad passes
  catches.

So the loops check ``stop_if_cancelled`` once a pass, which ends them at their next pass,
and ``stop`` cancels again, every ``RECANCEL_EVERY`` seconds, until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

# Seconds a cancelled task has to end before it is cancelled again: longer than any clean-up
# a stopped task does (a mailbox reader waits up to 5 s for its LOGOUT), which a second
# cancel would cut short.
RECANCEL_EVERY = 10.0


async def stop(*tasks: asyncio.Task | None) -> None:
    """Cancel the tasks and wait until every one has ended. An error a task ended with is
    logged, not raised: shutdown goes on with the rest."""
    pending = {task for task in tasks if task is not None}
    for task in pending:
        task.cancel()
    ended: set[asyncio.Task] = set()
    while pending:
        done, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY)
        ended |= done
        for task in pending:
            log.warning("task %s swallowed its cancel; cancelling it again", task.get_name())
            task.cancel()
    for task in ended:
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())


def stop_if_cancelled() -> None:
    """Raise CancelledError when the running task was asked to stop and the cancel was
    swallowed on the way (see above): a loop calls this once a pass."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
