"""Email channel: inbound-to-outbound latency and throughput against real local mail servers.

    python bench/email_throughput.py [--latency-mails 20] [--burst 200] [--database URL]

Starts the same throwaway dovecot (IMAP, IDLE) and exim4 (SMTP) as the tests
(tests/mailservers.py; scripts/test installs them), assembles the product on the demo
workspace (embedded SQLite by default) and runs the worker exactly as ``smartsupport serve``
does: the IMAP poller in IDLE, the outbox sending replies over SMTP.

- latency: one customer mail at a time; from the moment the customer's SMTP submission is
  accepted until the threaded reply sits in the customer's Maildir (so it includes exim's
  delivery into the support mailbox, dovecot's IDLE push, the turn, the outbox and exim's
  delivery back). p50 / p95 / max.
- throughput: ``--burst`` mails submitted at once (8 SMTP connections in parallel); the time
  until every reply is in the customer's Maildir; mails per minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smartsupport.settings import Settings  # noqa: E402
from smartsupport.wiring import assemble  # noqa: E402
from smartsupport.worker import Worker  # noqa: E402
from tests.mailservers import (  # noqa: E402
    MailServers,
    customer_mail,
    mail_count,
    running_mailservers,
    send,
    wait_for_mail,
)

QUESTIONS = [
    "How do I reset my password?",
    "Do you ship to Norway?",
    "I want to track ORD-10234",
    "How long do refunds take?",
    "Can I change my delivery address?",
    "What are your opening hours?",
]


async def latency(servers: MailServers, count: int) -> list[float]:
    took = []
    for i in range(count):
        before = mail_count(servers, "customer")
        started = time.perf_counter()
        await send(servers, customer_mail(f"Question {i}", QUESTIONS[i % len(QUESTIONS)]))
        await wait_for_mail(servers, "customer", before + 1, within=120)
        took.append(time.perf_counter() - started)
    return took


async def burst(servers: MailServers, count: int) -> float:
    before = mail_count(servers, "customer")
    mails = [customer_mail(f"Burst {i}", QUESTIONS[i % len(QUESTIONS)]) for i in range(count)]
    gate = asyncio.Semaphore(8)

    async def one(mail) -> None:  # type: ignore[no-untyped-def]
        async with gate:
            await send(servers, mail)

    started = time.perf_counter()
    await asyncio.gather(*(one(m) for m in mails))
    await wait_for_mail(servers, "customer", before + count, within=1800)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-mails", type=int, default=20)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--database", default="", help="default: SQLite in a temp directory")
    args = parser.parse_args()
    with running_mailservers() as servers, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            secret_key="k" * 32,
            database_url=args.database,
            email_imap_url=servers.imap_url("support"),
            email_smtp_url=servers.smtp_url("support"),
            email_from="Demo Support <support@example.test>",
            email_poll_seconds=60,
        )
        services = await assemble(settings)
        worker = Worker(services).start()
        try:
            await asyncio.sleep(1.0)  # the poller is connected and in IDLE
            took = sorted(await latency(servers, args.latency_mails))
            p95 = took[min(len(took) - 1, int(round(0.95 * (len(took) - 1))))]
            print(
                f"latency over {len(took)} mails: p50 {statistics.median(took) * 1000:.0f} ms, "
                f"p95 {p95 * 1000:.0f} ms, max {took[-1] * 1000:.0f} ms"
            )
            seconds = await burst(servers, args.burst)
            print(
                f"throughput: {args.burst} mails answered in {seconds:.1f} s = "
                f"{args.burst / seconds * 60:.0f} mails/minute"
            )
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            await worker.stop()
            await services.close()


if __name__ == "__main__":
    asyncio.run(main())
