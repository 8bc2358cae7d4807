"""Low-confidence tickets are collected per window and sent as one ticket when it closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartsupport import outbox
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import IncomingMessage
from smartsupport.helpdesk.tickets import request_ticket
from tests.helpdesk_fakes import FakeApis, open_test_services, zendesk_config


async def test_low_confidence_requests_become_one_ticket_per_window(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        escalation = {
            "helpdesk": zendesk_config(
                fake, batch_low_confidence={"enabled": True, "window_minutes": 30}
            )
        }
        services = await open_test_services(tmp_path, sqlite_url, escalation)
        try:
            ids = []
            for text in ("blorp quux?", "frobnicate my widget", "zzz qqq"):
                conv, _ = await start_conversation(services, "acme")
                await handle_message(services, IncomingMessage(conv.id, text))
                ids.append(conv.id)
            t0 = datetime(2026, 11, 21, 10, 5, tzinfo=UTC)
            requests = [
                await request_ticket(
                    services,
                    cid,
                    reason="low confidence",
                    low_confidence=True,
                    now=t0 + timedelta(minutes=i),
                )
                for i, cid in enumerate(ids)
            ]
            late = await request_ticket(
                services,
                ids[0],
                reason="again",
                low_confidence=True,
                now=t0 + timedelta(minutes=40),
            )
            assert {r.idempotency_key for r in requests} == {requests[0].idempotency_key}
            assert all(r.batched for r in requests)
            assert requests[0].due == datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
            assert late.idempotency_key != requests[0].idempotency_key  # the next window

            assert await outbox.run_due(services, now=t0 + timedelta(minutes=20)) == 0
            assert fake.zendesk_tickets == {}
            await outbox.run_due(services, now=requests[0].due)
            [ticket] = fake.zendesk_tickets.values()
            assert "low_confidence" in ticket["tags"]
            assert ticket["subject"].startswith("3 conversation(s)")
            for cid, text in zip(
                ids, ("blorp quux?", "frobnicate my widget", "zzz qqq"), strict=True
            ):
                assert cid in ticket["description"] and text in ticket["description"]
            rows = await services.store.fetch(  # type: ignore[attr-defined]
                "SELECT conversation_id FROM helpdesk_tickets WHERE external_id = ?",
                str(ticket["id"]),
            )
            assert sorted(r["conversation_id"] for r in rows) == sorted(ids)
            await outbox.run_due(services, now=late.due)
            assert len(fake.zendesk_tickets) == 2
        finally:
            await services.close()
