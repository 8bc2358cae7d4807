"""Inbound-to-outbound latency of the messaging channels (docs/benchmarks.md, "Messaging
channels"), against the local stand-ins for Meta, Twilio and a business's webhook endpoint
(tests/messaging_fakes.py): the whole app in process (`create_app` on the demo workspace,
embedded SQLite, no Redis), its own worker sending through the outbox.

For each channel, one message at a time: from the signed webhook's POST (the API channel's
authenticated POST) until the local provider has received our reply. The provider's own
network time is not in it (the fakes answer at once).

    .venv/bin/python bench/channels_latency.py            # 30 messages per channel
    .venv/bin/python bench/channels_latency.py --count 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.messaging_fakes import ENV, twilio_inbound, wa_text, whatsapp_webhook  # noqa: E402
from tests.messagingkit import Running, running  # noqa: E402

QUESTIONS = ["Do you ship to Norway?", "How long do refunds take?", "What are your opening hours?"]


async def until(check, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + seconds
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("no reply")
        await asyncio.sleep(0.002)


async def whatsapp(run: Running, index: int) -> float:
    before = len(run.fake.whatsapp_sent)
    started = time.perf_counter()
    body = whatsapp_webhook([wa_text(QUESTIONS[index % 3])], wa_id="4915100000001")
    assert (await run.whatsapp(body)).status_code == 200
    await until(lambda: len(run.fake.whatsapp_sent) > before)
    return time.perf_counter() - started


async def sms(run: Running, index: int) -> float:
    before = len(run.fake.twilio_sent)
    started = time.perf_counter()
    assert (await run.twilio("sms", twilio_inbound(QUESTIONS[index % 3]))).status_code == 204
    await until(lambda: len(run.fake.twilio_sent) > before)
    return time.perf_counter() - started


async def api(run: Running, index: int, key: str) -> float:
    before = len(run.fake.hook_deliveries)
    started = time.perf_counter()
    body = {"user_id": "bench", "message_id": f"m{index}", "text": QUESTIONS[index % 3]}
    response = await run.http.post(
        "/api/v1/channels/api/demo/messages", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 201, response.text
    await until(lambda: len(run.fake.hook_deliveries) > before)
    return time.perf_counter() - started


def summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 1),
        "max_ms": round(ms[-1], 1),
    }


async def main(count: int) -> dict[str, dict[str, float]]:
    os.environ.update(ENV)
    with tempfile.TemporaryDirectory() as tmp:
        async with running(Path(tmp), outbox_poll_seconds=1.0) as run:
            key = await run.api_key()
            for warm in range(2):  # the first turns load models and open connections
                await whatsapp(run, warm)
                await sms(run, warm)
                await api(run, 100 + warm, key)
            results = {
                "whatsapp": [await whatsapp(run, i) for i in range(count)],
                "sms": [await sms(run, i) for i in range(count)],
                "api": [await api(run, i, key) for i in range(count)],
            }
    return {channel: summary(seconds) for channel, seconds in results.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=30)
    print(json.dumps(asyncio.run(main(parser.parse_args().count)), indent=2))
