"""What ``smartsupport serve`` does to its own process: uvicorn's server, with the heap that
start-up built frozen out of the garbage collector's sight.

After start-up the server holds a few million objects that live as long as it does: the
intent models, each workspace's knowledge index, the place names of CLDR, the compiled
small-word patterns, the demo shop. CPython's full collection walks every one of them each
time: 140-214 ms a pass, five passes a minute at 100 customer messages a second, each one
stalling every socket (docs/benchmarks.md, "Both cores", issue 18). ``gc.freeze()`` moves
what exists once the server is ready into a generation the collector never scans; what
turns create is collected as before. What is left for a full pass is then every open
conversation's and socket's state (about 45 ms at 1,000 open widgets), so full passes come
ten times less often than CPython's default: after 100 collections of the middle generation
instead of 10 (about every 50 s instead of every 5 s at 100 messages a second). Young cycles
are still collected as often as before. Only ``serve`` does this: an app built in a test or
another program leaves that program's collector alone.
"""

from __future__ import annotations

import gc
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.main import STARTUP_FAILURE

FULL_PASS_AFTER = 100  # middle-generation collections between full ones (CPython: 10)


class Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            # No collection first: it would add 0.1 s to start-up to free the few cycles
            # start-up left, which freezing keeps instead.
            gc.freeze()
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, FULL_PASS_AFTER)


def serve(app: Any, **config: Any) -> None:
    """``uvicorn.run(app, **config)`` with the server above: one process, no reload."""
    server = Server(uvicorn.Config(app, **config))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run: start-up failed (the log says why)
