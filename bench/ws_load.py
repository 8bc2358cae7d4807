"""Drive N concurrent conversations over the widget WebSocket and print turn latency,
throughput, errors and server memory per open conversation.

    python bench/ws_load.py --conversations 1000 --turns 10
    python bench/ws_load.py --conversations 1000 --database-url postgresql://... --redis-url redis://...
    python bench/ws_load.py --url http://127.0.0.1:8000 --server-pid 1234  # a running server
    python bench/ws_load.py --workspace plain   # the backbone alone: a keyword-only workspace
    python bench/ws_load.py --distinct --floor  # also bench/floor_server.py, and the ratios

Unless --url is given it starts `smartsupport serve` itself on a free port with a fresh data
directory (rate limits raised so that the load generator is not throttled), and stops it
afterwards. A turn is: send a customer message, wait for the bot's reply on the socket.
Besides the run's percentiles, the p95 of each second of the run (``p95_by_second_ms``)
shows bursts (a background job, the first turns after start-up) that the run's p95 cannot
tell from load. Once a conversation is handed to a person, the bot no longer answers it: its
later messages wait only for their stored echo, and such conversations are counted
(``handed_to_a_person``), not reported as timeouts. Every customer message is checked on the
server afterwards: none may be lost. ``--floor`` then runs the same load against
``bench/floor_server.py`` (the least a durable chat server does per turn) and gives each
figure as a ratio to the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

WORKSPACE = "demo"
QUESTIONS = [
    "Where is my order ORD-10234?",
    "How much does shipping cost?",
    "What is your returns policy?",
    "Which payment methods do you accept?",
    "hello",
    "what are your opening hours?",
]


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (the server's encoder process among them)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU the server has used, its child processes included (a machine busy
    with other work slows a turn but hardly changes this: the figure to compare before/after
    on a shared machine)."""
    total = 0
    for member in process_tree(pid) if children else [pid]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def open_conversation(http: httpx.AsyncClient, base: str):
    response = await http.post(f"{base}/api/v1/conversations", json={"workspace": WORKSPACE})
    response.raise_for_status()
    body = response.json()
    ws_url = base.replace("http", "ws", 1) + f"/api/v1/conversations/{body['id']}/ws"
    ws = await websockets.connect(ws_url, max_size=2**20, open_timeout=60, ping_interval=None)
    await ws.send(json.dumps({"type": "hello", "token": body["token"], "after": 1}))
    ready = json.loads(await ws.recv())
    assert ready["type"] == "ready", ready
    return body, ws


DISTINCT: list[str] = []  # --distinct: every message a different customer text


def next_text(i: int) -> str:
    """The next customer message: a fresh one from the distinct pool, else the demo's few
    questions in turn (which the NLU cache then answers: an optimistic bound)."""
    if DISTINCT:
        return DISTINCT.pop()
    return QUESTIONS[i % len(QUESTIONS)]


def load_distinct(count: int) -> list[str]:
    """``count`` different customer texts: Bitext customer-support and BANKING77 utterances
    (../shared/datasets), shuffled with a fixed seed so two runs send the same messages."""
    import csv

    root = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
    texts: list[str] = []
    for path, column in (
        (root / "bitext_customer_support" / "intent_detection" / "train.csv", "utterance"),
        (root / "banking77" / "train.csv", "text"),
    ):
        with path.open(encoding="utf-8") as f:
            texts += [row[column] for row in csv.DictReader(f)]
    unique = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
    if len(unique) < count:
        raise SystemExit(f"--distinct needs {count} texts; the datasets hold {len(unique)}")
    random.Random(7).shuffle(unique)
    return unique[:count]


async def converse(
    ws,
    turns: int,
    latencies: list[float],
    timeline: list[tuple[float, float]],
    errors: list[str],
    start: asyncio.Event,
    sent: list[str],
    interval: float,
    handed: list[int],
):
    """One customer: a message every ``interval`` seconds on a fixed schedule (like people
    typing), or back to back when ``interval`` is 0 (a saturation test)."""
    await start.wait()
    with_people = False  # handed to a person: its messages are stored, no bot answers them
    loop = asyncio.get_running_loop()
    next_at = loop.time() + random.uniform(0, interval)
    for i in range(turns):
        if interval:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += interval
        client_id = uuid.uuid4().hex
        began = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "text": next_text(i), "client_id": client_id}))
        sent.append(client_id)
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if frame["type"] == "error":
                errors.append(frame.get("code", "error"))
                break
            if frame["type"] == "status":
                with_people = frame["status"] in ("waiting_for_agent", "with_agent")
            if frame["type"] != "message":
                continue
            message = frame["message"]
            if message["author"] == "bot":
                latencies.append((time.perf_counter() - began) * 1000)
                timeline.append((began, latencies[-1]))
                break
            if with_people and message.get("client_id") == client_id:
                break  # stored and acknowledged; a person answers it, not the bot
    if with_people:
        handed.append(1)


def by_second(timeline: list[tuple[float, float]], t0: float) -> list[int]:
    """The p95 of the turns sent in each second of the run (nearest rank)."""
    seconds: dict[int, list[float]] = {}
    for sent_at, ms in timeline:
        seconds.setdefault(int(sent_at - t0), []).append(ms)
    out = []
    for second in range(max(seconds, default=-1) + 1):
        found = sorted(seconds.get(second, [0.0]))
        out.append(round(found[min(len(found) - 1, int(len(found) * 0.95))]))
    return out


async def verify(
    http: httpx.AsyncClient, base: str, conversations, sent: set[str]
) -> tuple[int, int]:
    """Customer messages sent but not stored (a message the load generator gave up before
    sending is not lost: it was never sent), and the messages the load stored (read back
    from the server: from the customer's first message on, so a greeting stored on opening
    is not counted)."""
    stored = 0
    kept: set[str] = set()
    for body in conversations:
        r = await http.get(
            f"{base}/api/v1/conversations/{body['id']}/messages",
            headers={"Authorization": f"Bearer {body['token']}"},
        )
        messages = r.json()["messages"]
        customer = [i for i, m in enumerate(messages) if m["author"] == "customer"]
        kept.update(messages[i].get("client_id") for i in customer)
        stored += len(messages) - customer[0] if customer else 0
    return len(sent - kept), stored


async def run(args, base: str, pid: int | None) -> dict:
    # Pooled connections expire before uvicorn's 5 s keep-alive does: with equal timeouts a
    # connection was now and then reused just as the server closed it (httpx.ReadError while
    # opening conversations, about one run in fifteen).
    limits = httpx.Limits(max_connections=50, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        rss_before = rss_kib(pid) if pid else None
        opened = []
        sem = asyncio.Semaphore(50)

        async def opener():
            async with sem:
                opened.append(await open_conversation(http, base))

        t0 = time.perf_counter()
        await asyncio.gather(*(opener() for _ in range(args.conversations)))
        open_seconds = time.perf_counter() - t0
        await asyncio.sleep(1)
        rss_open = rss_kib(pid) if pid else None
        interval = args.conversations / args.rate if args.rate else 0.0
        latencies: list[float] = []
        timeline: list[tuple[float, float]] = []  # (sent at, ms): latency by second
        errors: list[str] = []
        sent: list[str] = []
        handed: list[int] = []
        start = asyncio.Event()
        tasks = [
            asyncio.create_task(
                converse(ws, args.turns, latencies, timeline, errors, start, sent, interval, handed)
            )
            for _, ws in opened
        ]
        cpu_before = cpu_seconds(pid) if pid else None
        main_before = cpu_seconds(pid, children=False) if pid else None
        client_before = time.process_time()
        t1 = time.perf_counter()
        start.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - t1
        client_used = time.process_time() - client_before
        cpu_used = cpu_seconds(pid) - cpu_before if pid and cpu_before is not None else None
        main_used = (
            cpu_seconds(pid, children=False) - main_before
            if pid and main_before is not None
            else None
        )
        errors += [type(r).__name__ for r in results if isinstance(r, BaseException)]
        for _, ws in opened:
            await ws.close()
        lost, stored = await verify(http, base, [b for b, _ in opened], set(sent))
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {
        "conversations": args.conversations,
        "target_rate_per_s": args.rate or "saturation",
        "turns_per_conversation": args.turns,
        "turns": len(latencies),
        "p50_ms": round(q[49], 1),
        "p95_ms": round(q[94], 1),
        "p99_ms": round(q[98], 1),
        "customer_messages_per_s": round(len(latencies) / elapsed, 1),
        "server_cpu_ms_per_turn": (
            round(1000 * cpu_used / len(latencies), 2) if cpu_used and latencies else None
        ),
        # The server process alone, without its encoder process: its ceiling is 1 / this.
        "server_main_process_cpu_ms_per_turn": (
            round(1000 * main_used / len(latencies), 2) if main_used and latencies else None
        ),
        # This load generator's own CPU: on a shared machine it competes with the server,
        # so at saturation it bounds what the server is given.
        "client_cpu_ms_per_turn": round(1000 * client_used / len(latencies), 2)
        if latencies
        else None,
        # A burst (a background job, the first turns after start-up) shows here as a few
        # seconds far above the rest, where the run's p95 alone cannot tell it from load.
        "p95_by_second_ms": by_second(timeline, t1),
        "messages_stored_per_s": round(stored / elapsed, 1),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "lost_messages": lost,
        "sent": len(sent),
        "handed_to_a_person": len(handed),
        "open_seconds": round(open_seconds, 1),
        "server_kib_per_open_conversation": (
            round((rss_open - rss_before) / args.conversations, 1) if pid else None
        ),
        "server_rss_mib": round(rss_open / 1024, 1) if pid else None,
        # With its encoder process (SMARTSUPPORT_ENCODER=process), which holds the model.
        "server_and_children_rss_mib": (
            round(sum(rss_kib(p) for p in process_tree(pid)) / 1024, 1) if pid else None
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="target customer messages per second across all conversations (each one "
        "writes every conversations/rate seconds); 0: back to back, a saturation test",
    )
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--server-pid", type=int, help="pid of --url's server, for memory")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="every customer message a different text (Bitext, BANKING77), never repeated",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="then the same load against bench/floor_server.py, and each figure as a ratio",
    )
    parser.add_argument(
        "--workspace",
        default="demo",
        help="demo (the full assistant) or plain (bench/workspaces/plain: keywords only)",
    )
    args = parser.parse_args()
    global WORKSPACE
    WORKSPACE = args.workspace
    if args.distinct:
        DISTINCT.extend(load_distinct(args.conversations * args.turns))
    texts = list(DISTINCT)
    if args.url:
        result = asyncio.run(run(args, args.url.rstrip("/"), args.server_pid))
    else:
        env = {
            **os.environ,
            "SMARTSUPPORT_DATA_DIR": tempfile.mkdtemp(prefix="ss-bench-"),
            "SMARTSUPPORT_RATE_LIMIT_PER_MINUTE": "100000",
            "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "1000000",
            "SMARTSUPPORT_LOG_LEVEL": "warning",
        }
        if args.workspace != "demo":
            env["SMARTSUPPORT_DEMO"] = "false"
            env["SMARTSUPPORT_WORKSPACES_DIR"] = str(Path(__file__).parent / "workspaces")
        if args.database_url:
            env["SMARTSUPPORT_DATABASE_URL"] = args.database_url
        if args.redis_url:
            env["SMARTSUPPORT_REDIS_URL"] = args.redis_url
        result = run_against([sys.executable, "-m", "smartsupport", "serve"], env, args)
    result["backend"] = "postgresql+redis" if args.database_url else "embedded (sqlite, in-process)"
    result["workspace"] = args.workspace
    result["load_average"] = os.getloadavg()[0]
    if args.floor:
        DISTINCT[:] = texts  # the same messages
        floor_dir = tempfile.mkdtemp(prefix="ss-floor-")
        floor = run_against(
            [
                sys.executable,
                str(Path(__file__).parent / "floor_server.py"),
                "--data-dir",
                floor_dir,
            ],
            dict(os.environ),
            args,
        )
        result["floor"] = floor
        result["ratio_to_floor"] = {
            key: round(result[key] / floor[key], 2) if result[key] and floor[key] else None
            for key in ("p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_turn")
        }
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 and result["lost_messages"] == 0 else 1


def run_against(command: list[str], env: dict[str, str], args) -> dict:
    """Start ``command --port P`` and wait until it is ready, run the load, stop it."""
    port = free_port()
    server = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"{command[-1]} did not start")
            time.sleep(0.3)
        return asyncio.run(run(args, base, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
