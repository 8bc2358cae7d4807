"""What `smartsupport serve` does to its own process (smartsupport/serve_process.py): once the
app is ready, the start-up heap is frozen out of the collector and full passes come rarer;
a start-up that fails exits with uvicorn's code for it."""

from __future__ import annotations

import gc

import pytest
import uvicorn
from servers import free_port

from smartsupport.serve_process import FULL_PASS_AFTER, Server, serve


async def ready_app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def failing_app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})


async def test_once_ready_the_start_up_heap_is_frozen_and_full_passes_are_rarer() -> None:
    threshold = gc.get_threshold()
    config = uvicorn.Config(ready_app, port=free_port(), log_level="warning")
    server = Server(config)
    config.load()  # as Server.serve does before its start-up
    server.lifespan = config.lifespan_class(config)
    try:
        kept_at_start = object()  # something start-up built and keeps
        await server.startup()
        assert server.started
        assert gc.get_freeze_count() > 0
        assert gc.is_tracked([kept_at_start])  # still an object like any other
        young, middle, full = gc.get_threshold()
        assert (young, middle) == threshold[:2] and full == FULL_PASS_AFTER
    finally:
        await server.shutdown()
        gc.unfreeze()  # this test process's collector as it was
        gc.set_threshold(*threshold)


def test_a_failed_start_up_exits_with_uvicorns_code() -> None:
    before = gc.get_freeze_count()
    with pytest.raises(SystemExit) as stopped:
        serve(failing_app, port=free_port(), log_level="critical")
    assert stopped.value.code == 3  # uvicorn.main.STARTUP_FAILURE
    assert gc.get_freeze_count() == before  # nothing frozen for a server that never ran
