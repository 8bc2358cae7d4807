"""Memory per idle widget WebSocket, with and without permessage-deflate, side by side.

    python bench/idle_sockets.py --sockets 10000
    python bench/idle_sockets.py --sockets 2000 --modes off      # one mode only

For each mode it starts `smartsupport serve` on the embedded default (demo workspace, a fresh
data directory, SMARTSUPPORT_WS_COMPRESSION set to the mode), opens ``--sockets`` widget
conversations, then their sockets (the client offers compression, as browsers do), and prints
the server's resident memory before, with the conversations created and with their sockets
open: per conversation, per socket and both together; and a probe conversation's turn
latency with every socket open (p50/p95 of ``--probe-turns`` turns) next to the same probe on
an idle server. Memory is the figure to trust on a shared machine; latency needs a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import websockets

sys.path.insert(0, os.path.dirname(__file__))
from ws_load import free_port, rss_kib  # noqa: E402

PROBE = "What are your opening hours?"


def start_server(compression: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "SMARTSUPPORT_DATA_DIR": tempfile.mkdtemp(prefix="ss-idle-"),
        "SMARTSUPPORT_RATE_LIMIT_PER_MINUTE": "1000000",
        "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "1000000",
        "SMARTSUPPORT_LOG_LEVEL": "warning",
        "SMARTSUPPORT_WS_COMPRESSION": "true" if compression else "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "smartsupport", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.3)


async def create(http: httpx.AsyncClient, base: str) -> dict[str, str]:
    """A new widget conversation: its id and visitor token."""
    for attempt in range(3):
        try:
            response = await http.post(f"{base}/api/v1/conversations", json={"workspace": "demo"})
            break
        except httpx.TransportError:  # a pooled connection the busy server dropped: once more
            if attempt == 2:
                raise
    response.raise_for_status()
    body: dict[str, str] = response.json()
    return body


async def open_socket(base: str, body: dict[str, str]) -> websockets.ClientConnection:
    url = base.replace("http", "ws", 1) + f"/api/v1/conversations/{body['id']}/ws"
    ws = await websockets.connect(url, open_timeout=120, ping_interval=None)
    await ws.send(json.dumps({"type": "hello", "token": body["token"], "after": 1}))
    ready = json.loads(await ws.recv())
    if ready.get("type") != "ready":
        raise RuntimeError(f"no ready frame: {ready}")
    return ws


async def connect(http: httpx.AsyncClient, base: str) -> websockets.ClientConnection:
    return await open_socket(base, await create(http, base))


async def probe(http: httpx.AsyncClient, base: str, turns: int) -> list[float]:
    """Turn latencies (ms) of one conversation: send, wait for the bot's reply."""
    ws = await connect(http, base)
    latencies = []
    try:
        for number in range(turns):
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "text": PROBE, "client_id": f"p{number}"}))
            while True:
                frame = json.loads(await ws.recv())
                message = frame.get("message") or {}
                if frame.get("type") == "message" and message.get("author") == "bot":
                    break
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await ws.close()
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
    }


async def measure(base: str, pid: int, sockets: int, probe_turns: int) -> dict[str, object]:
    limits = httpx.Limits(max_connections=50, keepalive_expiry=1)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        idle_probe = await probe(http, base, probe_turns)
        rss_before = rss_kib(pid)
        gate = asyncio.Semaphore(50)

        async def one_conversation() -> dict[str, str]:
            async with gate:
                return await create(http, base)

        async def one_socket(body: dict[str, str]) -> websockets.ClientConnection:
            async with gate:
                return await open_socket(base, body)

        # The conversations first, then their sockets: what a socket costs apart from what
        # its conversation's rows cost the process (database pages, caches).
        conversations = await asyncio.gather(*(one_conversation() for _ in range(sockets)))
        await asyncio.sleep(2)
        rss_created = rss_kib(pid)
        started = time.perf_counter()
        opened = await asyncio.gather(*(one_socket(body) for body in conversations))
        open_seconds = time.perf_counter() - started
        await asyncio.sleep(2)  # let the server settle (its allocator, pending frames)
        rss_open = rss_kib(pid)
        busy_probe = await probe(http, base, probe_turns)
        await asyncio.gather(*(ws.close() for ws in opened))
    return {
        "sockets": sockets,
        "open_seconds": round(open_seconds, 1),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_conversations_created_mib": round(rss_created / 1024, 1),
        "rss_open_mib": round(rss_open / 1024, 1),
        "kib_per_conversation": round((rss_created - rss_before) / sockets, 1),
        "kib_per_socket": round((rss_open - rss_created) / sockets, 1),
        "kib_per_conversation_and_socket": round((rss_open - rss_before) / sockets, 1),
        "probe_idle": summary(idle_probe),
        "probe_with_sockets_open": summary(busy_probe),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--probe-turns", type=int, default=40)
    parser.add_argument("--modes", nargs="+", choices=("on", "off"), default=["on", "off"])
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Per process: the client holds its sockets, the server (which inherits the limit) its own.
    needed = args.sockets + 1000
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"open-file limit {hard} < {needed}: raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    print(f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    results = {}
    for mode in args.modes:
        server, base = start_server(mode == "on")
        try:
            results[f"compression {mode}"] = asyncio.run(
                measure(base, server.pid, args.sockets, args.probe_turns)
            )
        finally:
            server.terminate()
            server.wait(timeout=60)
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
