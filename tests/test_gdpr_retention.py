"""The retention purge on SQLite and on PostgreSQL + Redis: what is older than its
workspace's retention goes (a dry run only counts it), analytics outlive it anonymised,
and the worker runs it by itself."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smartsupport import audit, retention
from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, Message, OutboxItem, utcnow
from smartsupport.ids import new_id
from smartsupport.outbox import enqueue
from smartsupport.services import open_services
from smartsupport.settings import Settings
from smartsupport.worker import Worker

ACME = """
id: acme
name: Acme
privacy:
  retention:
    conversations: 7
"""


@pytest.fixture(params=["sqlite", "postgres+redis"])
def settings(request, tmp_path) -> Settings:
    (tmp_path / "ws" / "acme").mkdir(parents=True)
    (tmp_path / "ws" / "acme" / "workspace.yaml").write_text(ACME)
    options: dict[str, Any] = {}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    return Settings(data_dir=tmp_path, secret_key="t", workspaces_dir=tmp_path / "ws", **options)


@pytest.fixture
async def services(settings):
    opened = await open_services(settings)
    yield opened
    await opened.close()


async def conversation(services, workspace: str, age_days: float, text: str) -> str:
    """A conversation with a customer message, a turn event and a cached context, last
    touched ``age_days`` ago (its customer made then too)."""
    started, _ = await start_conversation(services, workspace, customer={"email": f"{text}@x.io"})
    message = Message(new_id(), started.id, 0, Author.CUSTOMER, text)
    events = [("turn", {"message_id": message.id, "intent": "shipping", "step": "faq"})]
    await services.store.record_turn(started.id, [message], events=events)
    ctx = await services.contexts.load(started.id)
    ctx.slots["email"] = f"{text}@x.io"
    await services.contexts.save(ctx)
    then = utcnow() - timedelta(days=age_days)
    db = services.store
    await db.execute(
        "UPDATE conversations SET updated_at = ?, created_at = ? WHERE id = ?",
        then,
        then,
        started.id,
    )
    await db.execute("UPDATE customers SET created_at = ? WHERE id = ?", then, started.customer_id)
    await db.execute("UPDATE events SET created_at = ? WHERE conversation_id = ?", then, started.id)
    return started.id


async def exists(services, conversation_id: str) -> bool:
    return await services.store.get_conversation(conversation_id) is not None


async def test_a_dry_run_counts_and_the_purge_deletes_what_is_too_old(services):
    old = await conversation(services, "demo", 100, "old")
    recent = await conversation(services, "demo", 10, "recent")

    dry = await retention.purge(services, dry_run=True)
    demo = next(w for w in dry.workspaces if w.workspace_id == "demo")
    assert (demo.conversations, demo.messages, demo.customers) == (1, 2, 1)  # greeting + "old"
    assert demo.days == {"conversations": 90, "analytics": 365, "outbox": 30}
    assert await exists(services, old)

    report = await retention.purge(services)
    demo = next(w for w in report.workspaces if w.workspace_id == "demo")
    assert (demo.conversations, demo.messages, demo.customers) == (1, 2, 1)
    assert not await exists(services, old) and await exists(services, recent)
    assert await services.backplane.get(services.contexts.key(old)) is None
    assert await services.backplane.get(services.contexts.key(recent)) is not None
    # The analytics of the old conversation stay, anonymised.
    kept = await services.store.fetch("SELECT data FROM events WHERE conversation_id IS NULL")
    turns = [e["data"] for e in kept if e["data"].get("intent") == "shipping"]
    assert turns == [{"intent": "shipping", "step": "faq", "anonymised": True}]
    [entry] = await audit.entries(services.store, action="retention.purged")
    assert entry.actor == "system" and "old@x.io" not in str(entry.details)
    again = await retention.purge(services)
    assert all(w.deleted() == 0 for w in again.workspaces)


async def test_a_workspace_sets_its_own_retention(services):
    acme = await conversation(services, "acme", 10, "acme")
    demo = await conversation(services, "demo", 10, "demo")
    await retention.purge(services)
    assert not await exists(services, acme) and await exists(services, demo)


async def test_settings_set_the_default_and_null_keeps_forever(settings):
    settings = settings.model_copy(
        update={"retention_days": {"conversations": 5, "analytics": None}}
    )
    opened = await open_services(settings)
    try:
        gone = await conversation(opened, "demo", 6, "gone")
        await opened.store.add_event("demo", "old.analytics", {"intent": "x"})
        await opened.store.execute(
            "UPDATE events SET created_at = ? WHERE type = 'old.analytics'",
            utcnow() - timedelta(days=5000),
        )
        report = await retention.purge(opened)
        assert not await exists(opened, gone)
        assert all(w.analytics_events == 0 for w in report.workspaces)
        assert await opened.store.list_events("demo", type="old.analytics")
    finally:
        await opened.close()


async def test_old_analytics_and_finished_outbox_work_go(services):
    db = services.store
    await db.add_event("demo", "turn", {"intent": "x", "anonymised": True})
    await db.execute(
        "UPDATE events SET created_at = ? WHERE type = 'turn'", utcnow() - timedelta(days=400)
    )
    for key, status in (("done-old", "done"), ("dead-old", "dead"), ("pending-old", "pending")):
        await enqueue(db, "demo", OutboxItem("notify.slack", {"email": "a@b.c"}, key))  # type: ignore[arg-type]
        await db.execute(
            "UPDATE outbox SET status = ?, updated_at = ? WHERE idempotency_key = ?",
            status, utcnow() - timedelta(days=40), key,
        )  # fmt: skip
    report = await retention.purge(services)
    demo = next(w for w in report.workspaces if w.workspace_id == "demo")
    assert (demo.analytics_events, demo.outbox) == (1, 2)
    left = await db.fetch("SELECT idempotency_key FROM outbox")
    assert [r["idempotency_key"] for r in left] == ["pending-old"]  # still to be delivered


async def test_the_worker_purges_on_its_own(services):
    old = await conversation(services, "demo", 100, "old")
    await Worker(services).run_once()
    assert not await exists(services, old)


def test_an_unknown_data_kind_in_settings_is_an_error_that_names_the_kinds(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown data kind 'chats'; use conversations"):
        Settings(data_dir=tmp_path, retention_days={"chats": 3})
    with pytest.raises(ValueError, match="days must be a whole number"):
        Settings(data_dir=tmp_path, retention_days={"outbox": 0})
