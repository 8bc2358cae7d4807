"""What field encryption at rest costs a customer turn (issue 14 goal: p95 within +10%).

Two figures:

- end to end: turns through the real conversation path (``wiring.assemble`` +
  ``conversation.handle_message``, demo workspace, keyword/NLU answers, no LLM) on the same
  database backend with ``SMARTSUPPORT_ENCRYPTION=off`` and with a keyring, in interleaved
  rounds so a busy machine slows both alike; p50 and p95 in milliseconds;
- CPU: microseconds of sealing and opening what one turn writes and reads back (a customer
  message and a reply sealed, the last 20 messages opened, as the widget's history does),
  a tight loop on one core (``time.process_time``), which holds on a loaded machine better
  than wall-clock latency does.

    python bench/encryption_cost.py                       # SQLite, 200 turns per mode
    python bench/encryption_cost.py --turns 40 --database postgresql://postgres@127.0.0.1/test

Figures from a shared, loaded machine are noise; quote them from a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import IncomingMessage
from smartsupport.keyring import EnvKeySource, Keyring, new_keyset
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.storage.fields import FieldCipher
from smartsupport.wiring import assemble, shutdown

QUESTIONS = (
    "where is my order 10234?",
    "do you ship to Norway?",
    "how do I return a jacket that does not fit",
    "thanks, that helps",
)
ROUNDS = 10  # modes alternate this many times
MODES = ("on", "off")


def settings_for(mode: str, directory: Path, database: str | None) -> Settings:
    options: dict[str, object] = {
        "data_dir": directory / mode,
        "secret_key": "bench",
        "conversation_rate_limit_per_minute": 1_000_000,
    }
    if database:
        options["database_url"] = database
    if mode == "off":
        options["encryption"] = "off"
    else:
        options["encryption_keys"] = SecretStr(new_keyset().to_json())
    return Settings(**options)  # type: ignore[arg-type]


async def turns(services: Services, count: int) -> list[float]:
    timings = []
    conversation, _ = await start_conversation(
        services, "demo", customer={"name": "Ada Lovelace", "email": "ada@example.com"}
    )
    for index in range(count):
        text = QUESTIONS[index % len(QUESTIONS)]
        started = time.perf_counter()
        await handle_message(services, IncomingMessage(conversation.id, text, f"c{index}"))
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def end_to_end(count: int, database: str | None) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        opened = {m: await assemble(settings_for(m, directory, database)) for m in MODES}
        try:
            for services in opened.values():
                await turns(services, 8)  # warm up: models loaded, caches filled
            timings: dict[str, list[float]] = {"off": [], "on": []}
            for _ in range(ROUNDS):
                for mode, services in opened.items():
                    timings[mode] += await turns(services, max(1, count // ROUNDS))
        finally:
            for services in opened.values():
                await shutdown(services)
    return {
        mode: {
            "turns": len(values),
            "p50_ms": round(statistics.median(values), 2),
            "p95_ms": round(percentile(values, 0.95), 2),
        }
        for mode, values in timings.items()
    }


def cpu_per_turn(repeat: int = 2000) -> float:
    fields = FieldCipher(Keyring(EnvKeySource(new_keyset().to_json())))
    history = [fields.seal("messages", "text", f"m{i}", QUESTIONS[i % 4] * 2) for i in range(20)]
    started = time.process_time()
    for n in range(repeat):
        fields.seal("messages", "text", f"in{n}", QUESTIONS[0])
        fields.seal("messages", "text", f"out{n}", "Your order 10234 left our warehouse today.")
        for i, sealed in enumerate(history):
            fields.open("messages", "text", f"m{i}", sealed)
    return (time.process_time() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help="turns per mode")
    parser.add_argument("--database", help="a database URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    figures = asyncio.run(end_to_end(args.turns, args.database))
    off, on = figures["off"]["p95_ms"], figures["on"]["p95_ms"]
    report = {
        "backend": "postgresql" if args.database else "sqlite",
        **figures,
        "p95_change_percent": round((on - off) / off * 100, 1),
        "seal_and_open_cpu_us_per_turn": round(cpu_per_turn(), 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
