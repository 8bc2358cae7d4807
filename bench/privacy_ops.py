"""How long a customer's export and erasure, a retention purge and an audit-chain check take
(issue 14, items 4 and 6).

    python bench/privacy_ops.py                          # SQLite in a temporary directory
    python bench/privacy_ops.py postgresql://.../db      # an empty database (or schema)

One customer with 20 conversations of 20 messages (and a turn event each) is exported and
erased; 500 conversations of 10 messages, idle for 100 days, are purged; 1,000 audit entries
are verified.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from smartsupport import audit, customer_data, retention
from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, Message, utcnow
from smartsupport.ids import new_id
from smartsupport.services import Services, open_services
from smartsupport.settings import Settings


async def conversation(services: Services, messages: int, **customer: str) -> str:
    started, _ = await start_conversation(services, "demo", customer=customer)
    batch = [Message(new_id(), started.id, 0, Author.CUSTOMER, f"m{j}") for j in range(messages)]
    events = [("turn", {"intent": "x", "message_id": m.id}) for m in batch]
    await services.store.record_turn(started.id, batch, events=events)
    return started.id


async def timed(label: str, work) -> object:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = await work
    print(f"{label:<48} {(time.perf_counter() - start) * 1000:8.0f} ms")
    return result


async def main(url: str | None) -> None:
    options = {"database_url": url} if url else {}
    services = await open_services(Settings(data_dir=Path(tempfile.mkdtemp()), **options))
    try:
        first = await conversation(services, 20, external_id="u1", email="a@example.com")
        for _ in range(19):
            await conversation(services, 20, external_id="u1")
        old = [await conversation(services, 10) for _ in range(500)]
        then = utcnow() - timedelta(days=100)
        for conversation_id in old:
            await services.store.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", then, conversation_id
            )
        found = await services.store.get_conversation(first)
        assert found is not None
        print(f"backend: {services.store.dialect}")  # type: ignore[attr-defined]
        customer = found.customer_id
        await timed(
            "export (20 conversations, 420 messages)",
            customer_data.export_customer(services, customer, actor="bench"),
        )
        await timed(
            "erase the same customer",
            customer_data.erase_customer(services, customer, actor="bench"),
        )
        await timed(
            "purge --dry-run (500 idle conversations)", retention.purge(services, dry_run=True)
        )
        await timed("purge (500 conversations, 5,500 messages)", retention.purge(services))
        for _ in range(1000):
            await audit.record(services.store, "staff.login", actor="staff:bench")
        await timed("audit verify (1,003 entries)", audit.verify(services.store))  # type: ignore[arg-type]
    finally:
        await services.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
