"""Cold start: from spawning `smartsupport serve` to `/readyz` answering 200, and the server's
memory once ready.

    python bench/cold_start.py --runs 5
    python bench/cold_start.py --runs 5 --vs /path/to/other/checkout   # alternating, side by side

The first start of each tree prepares a data directory (the demo's articles ingested, its
models trained into a models directory of that tree's own) and is not counted; then each run
starts a server on that data directory, as a restart or a new replica does ("with models
cached"), and polls `/readyz` every 10 ms. Each tree's modules are compiled to bytecode
first, as an installed package's are. With ``--vs`` the runs alternate between this tree
and the other (each imported from its own checkout), so a noisy machine weighs on both alike.
Prints one JSON object: each tree's seconds to ready, RSS 3 s after ready, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(tree: Path, data: Path, models: Path, settle: float) -> tuple[float, float]:
    """(seconds from spawn to ready, RSS in MiB ``settle`` seconds later)."""
    env = {**os.environ, "SMARTSUPPORT_DATA_DIR": str(data),
           "SMARTSUPPORT_MODELS_DIR": str(models), "PYTHONPATH": str(tree)}  # fmt: skip
    port = free_port()
    command = [sys.executable, "-m", "smartsupport", "serve", "--port", str(port)]
    began = time.perf_counter()
    server = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"{tree}: the server exited with {server.returncode}")
            time.sleep(0.01)
        took = time.perf_counter() - began
        time.sleep(settle)
        return took, rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--vs", type=Path, help="another checkout, run alternately")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before reading RSS")
    args = parser.parse_args()
    trees = [HERE] + ([args.vs.resolve()] if args.vs else [])
    for tree in trees:
        # An installed package starts from bytecode (pip and the image's compileall write it);
        # a checkout under PYTHONDONTWRITEBYTECODE=1 would compile every module on every start.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "smartsupport")],
                       check=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        dirs = {}
        for k, tree in enumerate(trees):
            data, models = Path(scratch) / f"data{k}", Path(scratch) / f"models{k}"
            data.mkdir()
            start(tree, data, models, 0)  # prepares the data directory; not counted
            dirs[tree] = (data, models)
        results: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            for tree in trees:
                results[tree].append(start(tree, *dirs[tree], args.settle))
    report = {
        str(tree): {
            "seconds_to_ready": [round(s, 2) for s, _ in runs],
            "median_seconds": round(statistics.median(s for s, _ in runs), 2),
            "rss_mib_after_ready": round(statistics.median(m for _, m in runs)),
        }
        for tree, runs in results.items()
    }
    report["load_average_at_start"] = round(load, 2)
    report["load_average_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
