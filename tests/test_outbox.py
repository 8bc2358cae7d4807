"""The outbox never loses or duplicates a ticket: a helpdesk that answers 500 or 429 for an
hour, lost responses, a worker that dies mid-call, a server restart, a refused token.

The helpdesk is the local fake (tests/helpdesk_fakes.py) over real HTTP; time is simulated
by handing ``run_due`` a clock, so an hour of outage takes a second."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest

from smartsupport import outbox, outbox_admin
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import IncomingMessage, utcnow
from smartsupport.helpdesk.tickets import request_ticket
from smartsupport.services import Services
from smartsupport.worker import Worker
from tests.helpdesk_fakes import FakeApis, open_test_services, zendesk_config


async def conversation(services: Services, email: str, text: str = "My parcel never came") -> str:
    conv, _ = await start_conversation(services, "acme", customer={"email": email, "name": "Ana"})
    await handle_message(services, IncomingMessage(conv.id, text))
    return conv.id


async def drain(services: Services, now, until):  # type: ignore[no-untyped-def]
    """Jump the simulated clock from due entry to due entry until ``until``; return the clock."""
    while True:
        row = await services.store.fetchrow(  # type: ignore[attr-defined]
            "SELECT next_attempt_at FROM outbox WHERE status = 'pending' "
            "ORDER BY next_attempt_at LIMIT 1"
        )
        if row is None or row["next_attempt_at"] > until:
            return now
        now = max(now, row["next_attempt_at"])
        await outbox.run_due(services, now=now)


async def statuses(services: Services) -> list[str]:
    rows = await services.store.fetch("SELECT status FROM outbox ORDER BY created_at")  # type: ignore[attr-defined]
    return [r["status"] for r in rows]


def test_backoff_grows_with_jitter_is_capped_and_honours_retry_after():
    first = [outbox.backoff(1) for _ in range(50)]
    assert all(1.0 <= d <= 2.0 for d in first) and len(set(first)) > 1  # jittered
    assert all(outbox.MAX_DELAY / 2 <= outbox.backoff(30) <= outbox.MAX_DELAY for _ in range(20))
    assert all(outbox.backoff(1, retry_after=30) >= 30 for _ in range(20))


async def test_an_hour_of_500s_then_recovery_loses_and_duplicates_nothing(tmp_path, database_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, database_url, {"helpdesk": zendesk_config(fake)}
        )
        try:
            ids = [await conversation(services, f"c{i}@example.com") for i in range(5)]
            fake.fail(500)
            for cid in ids:
                await request_ticket(services, cid, reason="offline")
            start = now = utcnow()
            now = await drain(services, now, start + timedelta(hours=1))
            assert fake.zendesk_tickets == {}
            assert await statuses(services) == ["pending"] * 5
            entries = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert all(e.attempts >= 8 for e in entries), [e.attempts for e in entries]
            assert all("HTTP 500" in (e.last_error or "") for e in entries)

            fake.recover()
            await drain(services, now, now + timedelta(hours=1))
            assert await statuses(services) == ["done"] * 5
            external = sorted(t["external_id"] for t in fake.zendesk_tickets.values())
            assert external == sorted(f"ticket:{cid}" for cid in ids)  # one each, none twice
            rows = await services.store.fetch(  # type: ignore[attr-defined]
                "SELECT conversation_id, external_id FROM helpdesk_tickets"
            )
            assert sorted(r["conversation_id"] for r in rows) == sorted(ids)
        finally:
            await services.close()


async def test_429_waits_at_least_retry_after(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, sqlite_url, {"helpdesk": zendesk_config(fake)}
        )
        try:
            cid = await conversation(services, "rate@example.com")
            fake.fail(429, times=1, retry_after=120)
            await request_ticket(services, cid, reason="offline")
            now = utcnow()
            assert await outbox.run_due(services, now=now) == 1
            [entry] = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert entry.status == "pending" and "429" in (entry.last_error or "")
            assert entry.next_attempt_at >= now + timedelta(seconds=120)
            assert await outbox.run_due(services, now=now + timedelta(seconds=60)) == 0
            await outbox.run_due(services, now=entry.next_attempt_at)
            assert await statuses(services) == ["done"] and len(fake.zendesk_tickets) == 1
        finally:
            await services.close()


async def test_a_lost_response_is_not_a_second_ticket(tmp_path, database_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, database_url, {"helpdesk": zendesk_config(fake)}
        )
        try:
            cid = await conversation(services, "lost@example.com")
            await request_ticket(services, cid, reason="offline")
            fake.lose_responses(times=2)  # the user create and the ticket create both "fail"
            now = await drain(services, utcnow(), utcnow() + timedelta(minutes=10))
            assert len(fake.zendesk_tickets) == 1
            assert len(fake.zendesk_users) == 1  # found by email on the retry, not re-created
            assert await statuses(services) == ["done"]
            assert len(fake.calls("POST", "/api/v2/tickets.json")) == 1
            assert now > utcnow() - timedelta(minutes=1)
        finally:
            await services.close()


async def test_work_survives_a_restart_and_a_dead_worker(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        escalation = {"helpdesk": zendesk_config(fake)}
        services = await open_test_services(tmp_path, sqlite_url, escalation)
        cid = await conversation(services, "restart@example.com")
        await request_ticket(services, cid, reason="offline")
        # A worker claimed it and died before finishing: the claim is all that is left.
        await services.store.execute(  # type: ignore[attr-defined]
            "UPDATE outbox SET locked_until = ?, locked_by = 'dead-worker'", utcnow() + outbox.LEASE
        )
        await services.close()

        services = await open_test_services(tmp_path, sqlite_url, escalation)
        try:
            assert await outbox.run_due(services) == 0  # still leased
            await outbox.run_due(services, now=utcnow() + outbox.LEASE + timedelta(seconds=1))
            assert await statuses(services) == ["done"] and len(fake.zendesk_tickets) == 1
        finally:
            await services.close()


async def test_refused_calls_go_to_dead_letters_and_can_be_requeued(tmp_path, database_url):
    async with FakeApis() as fake:
        escalation = {"helpdesk": zendesk_config(fake)}
        services = await open_test_services(
            tmp_path, database_url, escalation, helpdesk_api_token="wrong-token"
        )
        cid = await conversation(services, "dead@example.com")
        await request_ticket(services, cid, reason="offline")
        await outbox.run_due(services)
        [dead] = await outbox.list_entries(services.store, status="dead")  # type: ignore[arg-type]
        assert dead.kind == "ticket.create" and "HTTP 401" in (dead.last_error or "")
        assert "wrong-token" not in (dead.last_error or "")
        await services.close()

        services = await open_test_services(tmp_path, database_url, escalation)  # token fixed
        try:
            await outbox.requeue(services.store, dead.id)  # type: ignore[arg-type]
            await outbox.run_due(services)
            assert (await outbox.get(services.store, dead.id)).status == "done"  # type: ignore[arg-type, union-attr]
            assert len(fake.zendesk_tickets) == 1
        finally:
            await services.close()


async def test_too_old_work_is_dead_lettered_never_deleted(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, sqlite_url, {"helpdesk": zendesk_config(fake)}, outbox_max_age_hours=1
        )
        try:
            cid = await conversation(services, "old@example.com")
            await request_ticket(services, cid, reason="offline")
            fake.fail(503)
            await drain(services, utcnow(), utcnow() + timedelta(hours=2))
            [entry] = await outbox.list_entries(services.store)  # type: ignore[arg-type]
            assert entry.status == "dead" and entry.payload["conversation_id"] == cid
        finally:
            await services.close()


async def test_enqueue_is_idempotent(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, sqlite_url, {"helpdesk": zendesk_config(fake)}
        )
        try:
            cid = await conversation(services, "twice@example.com")
            await request_ticket(services, cid, reason="offline")
            await request_ticket(services, cid, reason="offline again")
            assert len(await outbox.list_entries(services.store)) == 1  # type: ignore[arg-type]
        finally:
            await services.close()


async def delivered_in_the_background(services, fake, email: str) -> int:
    """Ask for a ticket and wait (up to 5 s) for the running worker to deliver it: how many
    tickets Zendesk then has."""
    await request_ticket(services, await conversation(services, email), reason="offline")
    for _ in range(200):
        if fake.zendesk_tickets:
            break
        await asyncio.sleep(0.025)
    return len(fake.zendesk_tickets)


async def test_the_worker_task_delivers_in_the_background_and_stops(tmp_path, sqlite_url):
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, sqlite_url, {"helpdesk": zendesk_config(fake)}, outbox_poll_seconds=0.05
        )
        worker = Worker(services).start()
        try:
            assert await delivered_in_the_background(services, fake, "bg@example.com") == 1
        finally:
            await worker.stop()
            await services.close()
        assert worker.done


async def test_a_long_sweep_never_holds_up_a_delivery(tmp_path, sqlite_url, monkeypatch):
    """The sweep's paced catch-ups take seconds under load: they run in a loop of their own,
    so a ticket (or a WhatsApp reply) due meanwhile is delivered at once."""
    async with FakeApis() as fake:
        services = await open_test_services(
            tmp_path, sqlite_url, {"helpdesk": zendesk_config(fake)}, outbox_poll_seconds=0.05
        )
        sweeping, release = asyncio.Event(), asyncio.Event()

        async def slow_sweep(self) -> None:
            sweeping.set()
            await release.wait()

        monkeypatch.setattr(Worker, "sweep", slow_sweep)
        worker = Worker(services).start()
        try:
            await asyncio.wait_for(sweeping.wait(), 5)
            assert await delivered_in_the_background(services, fake, "sweep@example.com") == 1
            assert not release.is_set()  # the sweep still runs
        finally:
            release.set()
            await worker.stop()
            await services.close()


async def test_admins_see_dead_letters_and_requeue_them(tmp_path, sqlite_url):
    import httpx
    from fastapi import FastAPI, Header

    from smartsupport.app import _install_error_handlers
    from smartsupport.errors import Forbidden

    async def require_admin(x_role: str | None = Header(default=None)) -> SimpleNamespace:
        if x_role != "admin":
            raise Forbidden("admins only")
        return SimpleNamespace(workspaces=["acme"])

    # Requeueing is a POST: as a server-to-server call (no session cookie) it needs no CSRF.
    admin = {"X-Role": "admin", "Authorization": "Bearer sk_test"}

    async with FakeApis() as fake:
        escalation = {"helpdesk": zendesk_config(fake)}
        services = await open_test_services(tmp_path, sqlite_url, escalation)
        try:
            cid = await conversation(services, "admin@example.com")
            fake.fail(400)  # e.g. a field the helpdesk refuses: not retryable
            await request_ticket(services, cid, reason="offline")
            await outbox.run_due(services)
            app = FastAPI()
            app.state.services = services
            _install_error_handlers(app)
            app.include_router(outbox_admin.router)
            app.dependency_overrides[outbox_admin.require_admin] = require_admin
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                refused = await client.get("/api/v1/admin/outbox?status=dead")
                listed = await client.get(
                    "/api/v1/admin/outbox?status=dead", headers={"X-Role": "admin"}
                )
                fake.recover()
                [dead] = listed.json()
                requeued = await client.post(
                    f"/api/v1/admin/outbox/{dead['id']}/requeue", headers=admin
                )
                missing = await client.post("/api/v1/admin/outbox/nope/requeue", headers=admin)
            assert refused.status_code == 403
            assert dead["kind"] == "ticket.create" and "HTTP 400" in dead["last_error"]
            assert requeued.status_code == 202 and missing.status_code == 404
            await outbox.run_due(services)
            assert await statuses(services) == ["done"] and len(fake.zendesk_tickets) == 1
        finally:
            await services.close()


async def test_start_refuses_a_helpdesk_or_chat_without_its_secret(tmp_path, sqlite_url):
    from smartsupport.errors import ConfigurationError

    cases = [
        (
            {
                "helpdesk": {
                    "provider": "zendesk",
                    "url": "https://acme.zendesk.com",
                    "email": "a@b.c",
                }
            },
            {"helpdesk_api_token": None},
            "SMARTSUPPORT_HELPDESK_API_TOKEN",
        ),
        (
            {"helpdesk": {"provider": "zendesk", "url": "https://acme.zendesk.com"}},
            {},
            "helpdesk.email",
        ),
        (
            {
                "helpdesk": {
                    "provider": "freshdesk",
                    "url": "https://acme.freshdesk.com",
                    "api_token_env": "ACME_FD_KEY_UNSET",
                }
            },
            {},
            "ACME_FD_KEY_UNSET",
        ),
        ({"notify": {"slack": {"channel": "#support"}}}, {}, "SMARTSUPPORT_SLACK_BOT_TOKEN"),
        ({"notify": {"teams": {}}}, {}, "SMARTSUPPORT_TEAMS_WEBHOOK_URL"),
    ]
    for i, (escalation, settings, fix) in enumerate(cases):
        with pytest.raises(ConfigurationError, match=fix):
            await open_test_services(tmp_path / str(i), sqlite_url, escalation, **settings)
