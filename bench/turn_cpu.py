"""CPU of a customer turn in the server's process and in the encoder's, measured in process
without sockets: a steadier figure than a load run's on a shared machine, for comparing two
trees side by side.

    python bench/turn_cpu.py                      # 900 distinct messages, 8 turns at a time
    python bench/turn_cpu.py --turns 600 --at-once 1
    for t in /tmp/base .; do (cd $t && PYTHONPATH=$t python bench/turn_cpu.py); done

It builds the demo workspace's app on the embedded defaults with the encoder in its own
process (``SMARTSUPPORT_ENCODER=process``), warms it with 200 messages, then sends distinct
customer messages (Bitext, BANKING77: ``ws_load.load_distinct``) to fresh conversations,
three per conversation, ``--at-once`` turns at a time, through ``handle_message``: the
conversation path every channel calls. It prints the server process's CPU per turn
(``time.process_time``: every thread of this process), the encoder process's, and the wall
time per turn. Set ``SMARTSUPPORT_MODELS_DIR`` to a directory shared by runs so that the
intent model is trained once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ws_load  # noqa: E402  (this folder's load generator: its texts and CPU readings)

from smartsupport.conversation import handle_message, start_conversation  # noqa: E402
from smartsupport.domain import IncomingMessage  # noqa: E402
from smartsupport.settings import Settings  # noqa: E402
from smartsupport.wiring import assemble  # noqa: E402

WARM_UP = 200


async def measure(turns: int, at_once: int) -> dict[str, float]:
    texts = ws_load.load_distinct(turns + WARM_UP)
    data_dir = Path(tempfile.mkdtemp(prefix="ss-turn-cpu-"))
    models = os.environ.get("SMARTSUPPORT_MODELS_DIR")
    settings = Settings(
        data_dir=data_dir,
        models_dir=Path(models) if models else data_dir / "models",
        secret_key="k" * 32,
        encoder="process",
    )
    services = await assemble(settings)
    try:
        needed = -(-turns // 3) + WARM_UP // 3 + 1
        conversations = [(await start_conversation(services, "demo"))[0] for _ in range(needed)]
        warm, measured = texts[:WARM_UP], texts[WARM_UP:]
        for i, text in enumerate(warm):
            await handle_message(services, IncomingMessage(conversations[i // 3].id, text))
        first = WARM_UP // 3 + 1

        async def turn(i: int, text: str) -> None:
            conversation = conversations[first + i // 3]
            await handle_message(services, IncomingMessage(conversation.id, text))

        encoder = services.assistant.knowledge.encoder
        texts_before, batches_before = encoder.encoded, encoder.batches
        own, wall, both = time.process_time(), time.perf_counter(), ws_load.cpu_seconds(os.getpid())
        for start in range(0, turns, at_once):
            chunk = measured[start : start + at_once]
            await asyncio.gather(*(turn(start + j, text) for j, text in enumerate(chunk)))
        own = time.process_time() - own
        wall = time.perf_counter() - wall
        both = ws_load.cpu_seconds(os.getpid()) - both
        texts_encoded = encoder.encoded - texts_before
        batches = encoder.batches - batches_before
    finally:
        await services.close()
    return {
        "turns": turns,
        "at_once": at_once,
        "server_process_cpu_ms_per_turn": round(1000 * own / turns, 3),
        "encoder_process_cpu_ms_per_turn": round(1000 * (both - own) / turns, 3),
        "wall_ms_per_turn": round(1000 * wall / turns, 3),
        # what the encoder's process did: texts it encoded and batches it ran, per turn
        "encoder_texts_per_turn": round(texts_encoded / turns, 3),
        "encoder_batches_per_turn": round(batches / turns, 3),
        "load_average": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=900)
    parser.add_argument("--at-once", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.turns, args.at_once)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
