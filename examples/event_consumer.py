"""Consume smartsupport's event stream from RabbitMQ: a starting point for a data pipeline.

    pip install aio-pika
    python examples/event_consumer.py --url amqp://guest:guest@localhost:5672/ \\
        --queue analytics --bind 'turn.*' --bind 'handoff.#'

It binds a queue to the events exchange, and for every event: skips it if its id was seen
(delivery is at least once: after a broker or worker failure the same event may come
twice), checks the schema version it understands, prints it as one JSON line, and only
then acknowledges it, so an event this process dies on is delivered again. A named queue
(``--queue``) is durable and keeps events while no consumer runs; without one the queue is
private to this run and vanishes with it. docs/events.md describes every event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import OrderedDict

import aio_pika

UNDERSTOOD = {  # event type -> the schema versions this consumer can read
    "conversation.started": {1},
    "turn.completed": {1},
    "handoff.requested": {1},
    "feedback.given": {1},
}


class Seen:
    """The ids of the last ``size`` events, to drop redeliveries. A real pipeline would
    de-duplicate where it stores events (a unique key on the event id)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self.ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen."""
        if event_id in self.ids:
            return False
        self.ids[event_id] = None
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return True


async def consume(args: argparse.Namespace) -> int:
    connection = await aio_pika.connect(args.url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        exchange = await channel.declare_exchange(
            args.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await (
            channel.declare_queue(args.queue, durable=True)
            if args.queue
            else channel.declare_queue(exclusive=True)
        )
        for pattern in args.bind or ["#"]:
            await queue.bind(exchange, routing_key=pattern)
        print(json.dumps({"ready": queue.name}), flush=True)
        seen, handled = Seen(), 0
        async with queue.iterator() as messages:
            async for message in messages:
                event = json.loads(message.body)
                version = (message.headers or {}).get("schema_version")
                if version not in UNDERSTOOD.get(event["type"], set()):
                    # A version this consumer cannot read: reject it (give the queue a
                    # dead-letter exchange to keep such events for a newer consumer).
                    print(f"unknown {event['type']} v{version}", file=sys.stderr, flush=True)
                    await message.reject(requeue=False)
                    continue
                if seen.add(message.message_id or event["id"]):
                    print(json.dumps(event, ensure_ascii=False), flush=True)
                await message.ack()
                handled += 1
                if args.count and handled >= args.count:
                    break
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="amqp://guest:guest@localhost:5672/")
    parser.add_argument("--exchange", default="smartsupport.events")
    parser.add_argument("--queue", default="", help="a durable queue name (default: temporary)")
    parser.add_argument(
        "--bind", action="append", help="routing pattern, repeatable (default: #, every event)"
    )
    parser.add_argument("--count", type=int, default=0, help="stop after this many events")
    return asyncio.run(consume(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
