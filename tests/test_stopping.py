"""Background tasks are stopped for certain, even when a step swallows the cancel
(``smartsupport/stopping.py``): a shutdown never hangs on a loop that went on running."""

from __future__ import annotations

import asyncio
import logging

import pytest

from smartsupport import stopping


async def swallows_the_first_cancel() -> None:
    """A loop one of whose steps turned a cancel into nothing, as a driver or Python 3.11's
    ``asyncio.wait_for`` can, and which never checks whether it was asked to stop: it goes on
    running as if no one had asked."""
    swallowed = False
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed = True


async def test_a_task_that_swallows_its_cancel_is_cancelled_again_until_it_ends(
    monkeypatch, caplog
):
    monkeypatch.setattr(stopping, "RECANCEL_EVERY", 0.2)
    task = asyncio.create_task(swallows_the_first_cancel(), name="stubborn")
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="smartsupport.stopping"):
        await asyncio.wait_for(stopping.stop(task), 5)
    assert task.cancelled()
    assert "stubborn swallowed its cancel" in caplog.text


@pytest.mark.parametrize("cancels", [0, 1], ids=["stop alone", "cancelled before"])
async def test_a_loop_that_checks_ends_at_its_next_pass_without_a_second_cancel(
    monkeypatch, cancels
):
    monkeypatch.setattr(stopping, "RECANCEL_EVERY", 60.0)  # a second cancel would be too late
    raised = asyncio.Event()

    async def checks() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                pass  # swallowed, every time
            try:
                stopping.stop_if_cancelled()
            except asyncio.CancelledError:
                raised.set()
                raise

    task = asyncio.create_task(checks())
    await asyncio.sleep(0.05)
    for _ in range(cancels):  # a cancel already swallowed before stop's own
        task.cancel()
    await asyncio.wait_for(stopping.stop(task), 2)
    assert task.cancelled() and raised.is_set()


async def test_an_error_a_task_ended_with_is_logged_and_the_rest_still_stop(caplog):
    async def fails() -> None:
        raise RuntimeError("bad pass")

    async def waits() -> None:
        await asyncio.Event().wait()

    failed, waiting = asyncio.create_task(fails(), name="failing"), asyncio.create_task(waits())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="smartsupport.stopping"):
        await stopping.stop(failed, None, waiting)
    assert waiting.cancelled()
    assert "failing ended with an error" in caplog.text and "bad pass" in caplog.text


async def test_stopping_nothing_or_an_ended_task_returns_at_once():
    async def ends() -> None:
        return None

    ended = asyncio.create_task(ends())
    await ended
    await asyncio.wait_for(stopping.stop(None, ended), 0.5)
