"""Local HTTP servers for conversation scripts: the real demo shop API on a free port, and a
misbehaving stand-in for the failures a business API has in real life.

    async with ShopServer(shop_file) as shop, BadServer(shop.url) as bad:
        shop.reset()                      # fresh data for each script
        bad.url + "/timeout"              # base URLs for a flows backend
        bad.url + "/garbage"  /error  /wrong-shape  /flaky  /unauthorized

Both run on uvicorn inside the caller's event loop, so a script's HTTP calls go through a real
socket exactly as they would in production.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from smartsupport.demo_shop import create_shop_app, load_shop

MODES = ("timeout", "garbage", "error", "wrong-shape", "flaky", "unauthorized")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Served:
    """An ASGI app on 127.0.0.1:<free port> for the life of an ``async with``."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="off",
            ws="none",
            http="h11",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Any:
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                return self
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        raise RuntimeError(f"the local server on port {self.port} did not start")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


class ShopServer(_Served):
    """The demo shop's HTTP API. ``reset()`` reloads the data (each script starts fresh)."""

    def __init__(self, shop_file: Path, api_key: str | None = None) -> None:
        self.shop_file = shop_file
        self.app = create_shop_app(load_shop(shop_file), api_key=api_key)
        super().__init__(self.app)

    def reset(self) -> None:
        self.app.state.shop = load_shop(self.shop_file)


class BadServer(_Served):
    """``/<mode>/<any path>`` fails the way ``mode`` says; ``flaky`` fails each path's first
    request with a 503 and then forwards to ``upstream`` (a retry should recover)."""

    def __init__(self, upstream: str, delay: float = 1.0) -> None:
        self.upstream, self.delay = upstream, delay
        self.seen: set[str] = set()
        self.hits = 0
        super().__init__(
            Starlette(
                routes=[
                    Route(
                        "/{mode}/{path:path}",
                        self._handle,
                        methods=["GET", "POST", "PUT", "DELETE"],
                    )
                ]
            )
        )

    def reset(self) -> None:
        self.seen.clear()
        self.hits = 0

    async def __aenter__(self) -> BadServer:
        # One client for forwarding: building one per request (TLS context and all) can
        # take longer than the short timeouts the scripts use.
        self._client = httpx.AsyncClient()
        try:
            await super().__aenter__()
        except BaseException:
            await self._client.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            await self._client.aclose()

    async def _handle(self, request: Request) -> Response:
        self.hits += 1
        mode, path = request.path_params["mode"], request.path_params["path"]
        if mode == "timeout":
            await asyncio.sleep(self.delay)
            return JSONResponse({"late": True})
        if mode == "garbage":
            return PlainTextResponse(
                "<html><body>502 Bad Gateway</body></html>\x00\xff",
                headers={"content-type": "application/json"},
            )
        if mode == "error":
            return JSONResponse({"error": "internal"}, status_code=500)
        if mode == "wrong-shape":
            return JSONResponse(["not", "an", "object"])
        if mode == "unauthorized":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if mode == "flaky" and path not in self.seen:
            self.seen.add(path)
            return JSONResponse({"error": "busy"}, status_code=503)
        upstream = await self._client.request(
            request.method,
            f"{self.upstream}/{path}",
            params=request.query_params,
            content=await request.body(),
            headers={
                k: v
                for k, v in request.headers.items()
                if k.lower() in ("authorization", "content-type")
            },
        )
        return Response(
            upstream.content,
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type"),
        )
