"""Staff members' names and messaging delivery errors are sealed at rest (storage/fields.py),
on SQLite and PostgreSQL: an agent's name in the meta of the messages they write (inbox
replies ``agent_name``, helpdesk replies ``author_name``), the staff named in a status
change's reason (``named_reason``; ``reason`` keeps the nameless words analytics counts), a
note's author, and a provider's error for a failed delivery (``channel_deliveries.error``,
``meta.delivery.error``), which can quote the customer's number or echo the message.

A raw read of every table finds none of them (staff accounts aside: they are the staff's own
records, docs/security.md); the inbox, the export and the store read them back; rotate +
``keys reencrypt`` + removing the old key leaves them readable; erasure removes them; values
written before encryption still read, and ``keys reencrypt`` seals them."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from smartsupport.channels import contacts
from smartsupport.channels.messaging_inbound import record_status
from smartsupport.customer_data import erase_customer, export_customer
from smartsupport.domain import Author, Conversation, Customer, Message, Workspace
from smartsupport.inbox.store import InboxStore
from smartsupport.keyring import new_keyset
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.reencrypt import PLAIN, census, reencrypt
from tests.inboxkit import inbox_app, queue
from tests.test_encryption_at_rest import leaks, old_keys_removed, raw_rows
from tests.test_encryption_rotation import opened

# what a provider answers when a message fails: the number and the message's words
ERROR = "(#131026) +15550107788 undeliverable: 'my moth-in-relay order'"
SECRETS = ("Hopperton", "Zuselkonrad", "Lamarrick", "15550107788", "moth-in-relay")
# the staff's own records, which name them (docs/security.md "Not sealed")
STAFF_TABLES = {"staff_users"}


@pytest.fixture(params=["sqlite", "postgres"])
def urls(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url")), ""
    return str(request.getfixturevalue("postgres_url")), str(request.getfixturevalue("redis_url"))


def outside_staff(rows: dict[str, str]) -> dict[str, str]:
    return {table: text for table, text in rows.items() if table not in STAFF_TABLES}


async def test_names_and_delivery_errors_never_reach_the_database_in_clear(urls, tmp_path):
    database_url, redis_url = urls
    async with inbox_app(database_url, redis_url, data_dir=tmp_path) as h:
        db = cast(SqlDatabase, h.services.store)
        assert db.fields.enabled
        hopper = await h.staff("hopperton@example.com")
        zuse = await h.staff("zuselkonrad@example.com")
        visitor = await h.customer_waiting()
        base = f"/api/v1/inbox/conversations/{visitor.id}"
        assert (await hopper.post(base + "/claim")).status_code == 200
        r = await hopper.post(base + "/transfer", json={"agent_id": zuse.user_id})
        assert r.status_code == 200, r.text
        r = await zuse.post(base + "/messages", json={"text": "Looking into it now."})
        assert r.status_code == 201, r.text
        reply_id = r.json()["message"]["id"]
        r = await zuse.post(base + "/notes", json={"text": "checked the order"})
        assert r.status_code in (200, 201), r.text
        # the reply went out over a messaging channel, and the provider says it failed
        await contacts.remember_delivery(db, "whatsapp", "wamid.1", "demo", visitor.id, [reply_id])
        assert await record_status(h.services, "whatsapp", "wamid.1", "failed", ERROR)

        found = leaks(await raw_rows(db), SECRETS)
        assert set(found["staff_users"]) == {"Hopperton", "Zuselkonrad"}  # the scan sees them
        assert outside_staff(found) == {}
        # ... and each reads back where it is shown
        (reply,) = [m for m in await db.list_messages(visitor.id) if m.id == reply_id]
        assert reply.meta["agent_name"] == "Zuselkonrad"
        assert reply.meta["delivery"]["error"] == ERROR
        assert (await InboxStore(db).notes(visitor.id))[0].author_name == "Zuselkonrad"
        statuses = await db.list_events("demo", type="conversation.status")
        transfer = statuses[-1].data
        assert transfer["named_reason"] == "transferred to Zuselkonrad by Hopperton"
        assert transfer["reason"] == "transferred to an agent"  # what analytics counts
        assert statuses[-2].data["named_reason"] == "claimed by Hopperton"
        assert (await zuse.post(base + "/handback")).status_code == 200
        r = await visitor.say("I want to talk to a person please")
        assert r["status"] == "waiting_for_agent"
        entry = next(e for e in (await queue(zuse))["queue"] if e["conversation_id"] == visitor.id)
        assert entry["reason"]  # the customer's own request: no staff change named here
        named = [
            e.data.get("named_reason")
            for e in await db.list_events("demo", type="conversation.status")
        ]
        assert "handed back to the assistant by Zuselkonrad" in named

        customer_id = (await db.get_conversation(visitor.id)).customer_id  # type: ignore[union-attr]
        doc = json.dumps(await export_customer(h.services, customer_id, actor="test"))
        for secret in ("Hopperton", "Zuselkonrad", "15550107788", "moth-in-relay"):
            assert secret in doc, secret
        exported = json.loads(doc)
        assert exported["channel_deliveries"][0]["error"] == ERROR

        await erase_customer(h.services, customer_id, actor="test")
        assert outside_staff(leaks(await raw_rows(db), SECRETS)) == {}
        assert await db.fetch("SELECT * FROM channel_deliveries") == []


# -- rotation, and values from before encryption -----------------------------------------
async def write(db: SqlDatabase) -> None:
    """One value in each place, through the store (sealed when ``db`` has a keyring)."""
    await db.upsert_workspace(Workspace(id="demo", name="Demo", config={}))
    await db.create_customer(Customer(id="c1", workspace_id="demo", name="Ada"))
    await db.create_conversation(Conversation(id="v1", workspace_id="demo", customer_id="c1"))
    replies = [
        Message("m1", "v1", 0, Author.AGENT, "On it.", meta={"agent_id": "s1",
                "agent_name": "Hopperton"}),
        Message("m2", "v1", 0, Author.AGENT, "Refunded.", meta={"author_name": "Lamarrick",
                "source": "zendesk"}),
    ]  # fmt: skip
    await db.record_turn("v1", replies)
    await db.update_message_meta("m1", {"delivery": {"status": "failed", "error": ERROR}})
    await contacts.remember_delivery(db, "whatsapp", "wamid.1", "demo", "v1", ["m1"])
    await contacts.advance_delivery(db, "whatsapp", "wamid.1", "failed", ERROR)
    await db.add_event(
        "demo",
        "conversation.status",
        {"status": "waiting_for_agent", "reason": "transferred to the billing team",
         "named_reason": "transferred to the billing team by Zuselkonrad"},
        conversation_id="v1",
    )  # fmt: skip
    await InboxStore(db).add_note("v1", "s1", "Hopperton", "a note")


async def reads_back(db: SqlDatabase) -> None:
    m1, m2 = await db.list_messages("v1")
    assert m1.meta["agent_name"] == "Hopperton" and m1.meta["delivery"]["error"] == ERROR
    assert m2.meta["author_name"] == "Lamarrick"
    (row,) = await db.fetch("SELECT channel, provider_id, error FROM channel_deliveries")
    assert db.fields.open_row("channel_deliveries", row)["error"] == ERROR
    (event,) = await db.list_events("demo", type="conversation.status")
    assert event.data["named_reason"] == "transferred to the billing team by Zuselkonrad"
    assert (await InboxStore(db).notes("v1"))[0].author_name == "Hopperton"


def per_key(counts: list[Any], tables: tuple[str, ...]) -> dict[str, dict[str, int]]:
    return {p.table: dict(p.keys) for p in counts if p.table in tables}


TABLES = ("messages", "channel_deliveries", "events", "inbox_notes")


@pytest.mark.parametrize("before", ["sealed", "clear"])
async def test_rotation_and_values_from_before_encryption(urls, before):
    database_url, _ = urls
    old = new_keyset()
    db = await opened(database_url, old if before == "sealed" else None)
    try:
        await write(db)
        found = outside_staff(leaks(await raw_rows(db), SECRETS))
        assert (found == {}) is (before == "sealed"), found
    finally:
        await db.close()

    rotated = old.with_new_primary()
    db = await opened(database_url, rotated)
    try:
        await reads_back(db)  # sealed with the old key, or plain: both read
        done = {p.table: p.changed for p in await reencrypt(db, batch=1)}
        assert {t: done[t] for t in TABLES} == {
            "messages": 2,  # both replies (text, names, the delivery error)
            "channel_deliveries": 1,
            "events": 1,
            "inbox_notes": 1,
        }
        counts = per_key(await census(db), TABLES)
        assert counts == {
            "messages": {rotated.primary: 5},  # 2 texts, 2 names, 1 delivery error
            "channel_deliveries": {rotated.primary: 1},
            "events": {rotated.primary: 1},
            "inbox_notes": {rotated.primary: 2},  # text, author_name
        }
        assert PLAIN not in json.dumps(counts)
        assert sum(p.changed for p in await reencrypt(db)) == 0
    finally:
        await db.close()

    retired = old_keys_removed(rotated)
    db = await opened(database_url, retired)
    try:
        await reads_back(db)
        assert outside_staff(leaks(await raw_rows(db), SECRETS)) == {}
    finally:
        await db.close()
