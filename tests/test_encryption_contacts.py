"""Messaging contacts' addresses at rest (migration 0027, channels/contacts.py): after
WhatsApp and Twilio conversations (replies, a delivery status, STOP and START, a proactive
message), no table holds a customer's phone number in clear, on SQLite and on PostgreSQL,
and every path that reads the address still works; contacts from before encryption are
found, then sealed and re-keyed by `keys reencrypt`; with encryption off the channels work
as before. Meta's and Twilio's servers are the local fakes of tests/messaging_fakes.py."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from smartsupport import customer_data, outbox
from smartsupport.channels import contacts
from smartsupport.domain import utcnow
from smartsupport.keyring import EnvKeySource, Keyring, new_keyset
from smartsupport.storage import open_store
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.fields import FieldCipher, is_sealed
from smartsupport.storage.reencrypt import PLAIN, census, reencrypt
from tests.messaging_fakes import twilio_inbound, wa_status, wa_text, whatsapp_webhook
from tests.messagingkit import channel_secrets, running, settle, wait_for  # noqa: F401
from tests.test_encryption_at_rest import leaks, raw_rows

WA_ID = "16505551234"  # the fakes' WhatsApp customer
NUMBER = "+15551234567"  # the fakes' SMS / Twilio WhatsApp customer
PHONES = (WA_ID, NUMBER.lstrip("+"))
PROACTIVE = "/api/v1/workspaces/demo/proactive"


async def converse(run) -> None:
    """WhatsApp and Twilio conversations touching every path that reads an address."""
    await run.whatsapp(whatsapp_webhook([wa_text("Hello")]))
    await wait_for(lambda: run.fake.texts_to(WA_ID), what="the WhatsApp reply")
    await settle(run.services)
    wamid = next(e.result["wamid"] for e in await _done(run) if "wamid" in e.result)
    status = await run.whatsapp(whatsapp_webhook(statuses=[wa_status(wamid, "read")]))
    assert status.json()["statuses"] == 1
    await run.twilio("sms", twilio_inbound("Hello"))
    await wait_for(lambda: run.fake.sms_to(NUMBER), what="the SMS reply")
    await run.twilio("whatsapp", twilio_inbound("Hello", whatsapp=True))
    await wait_for(lambda: run.fake.sms_to(f"whatsapp:{NUMBER}"), what="the Twilio WA reply")
    await run.twilio("sms", twilio_inbound("STOP", OptOutType="STOP"))
    assert (await contacts.find(run.services.store, "demo", "sms", NUMBER)).consent == "out"
    await run.twilio("sms", twilio_inbound("START", OptOutType="START"))
    assert (await contacts.find(run.services.store, "demo", "sms", NUMBER)).consent == "in"
    key = await run.api_key()
    notice = {"channel": "whatsapp", "to": f"+{WA_ID}", "text": "Your label expires tomorrow."}
    before = len(run.fake.texts_to(WA_ID))
    sent = await run.http.post(PROACTIVE, json=notice, headers={"Authorization": f"Bearer {key}"})
    assert sent.status_code == 202, sent.text
    await wait_for(lambda: len(run.fake.texts_to(WA_ID)) > before, what="the proactive message")
    assert run.fake.texts_to(WA_ID)[-1]["type"] == "text", "inside the 24-hour window"
    await settle(run.services)
    assert run.fake.problems == []


async def _done(run):
    return [e for e in await outbox.list_entries(run.services.store) if e.status == "done"]


async def test_no_table_holds_a_phone_number_in_clear(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        db = cast(SqlDatabase, run.services.store)
        assert db.fields.enabled
        await converse(run)
        rows = await raw_rows(db)
        assert "channel_contacts" in rows
        assert leaks(rows, PHONES) == {}
        stored = await db.fetch("SELECT address, address_hash FROM channel_contacts")
        assert len(stored) == 3 and all(is_sealed(r["address"]) for r in stored)
        assert all(len(r["address_hash"]) == 32 for r in stored)
        # the product reads them back: the contact of each conversation, by conversation
        for channel, address in (("whatsapp", WA_ID), ("sms", NUMBER)):
            found = await contacts.find(db, "demo", channel, address)
            assert found is not None and found.address == address
            again = await contacts.for_conversation(db, found.conversation_id)
            assert again is not None and again.address == address
        # the customer's export shows the address; erasure forgets it with the conversation
        contact = await contacts.find(db, "demo", "whatsapp", WA_ID)
        assert contact is not None
        customer_id = contact.customer_id
        exported = await customer_data.export_customer(run.services, customer_id, actor="t")
        assert [c["address"] for c in exported["channel_contacts"]] == [WA_ID]
        await customer_data.erase_customer(run.services, customer_id, actor="t")
        assert await contacts.find(db, "demo", "whatsapp", WA_ID) is None
        await run.whatsapp(whatsapp_webhook([wa_text("Hello again")]))
        fresh = await contacts.find(db, "demo", "whatsapp", WA_ID)
        assert fresh is not None and fresh.conversation_id != contact.conversation_id
        assert await run.customer_texts(fresh.conversation_id) == ["Hello again"]
    if database_url.startswith("sqlite"):
        assert not in_file(Path(database_url.removeprefix("sqlite:///")), PHONES)


def in_file(path: Path, secrets: tuple[str, ...]) -> list[str]:
    raw = path.read_bytes()
    return [s for s in secrets if s.encode() in raw]


async def test_with_encryption_off_the_channels_work_and_addresses_are_their_own_key(tmp_path):
    async with running(tmp_path, encryption="off") as run:
        db = cast(SqlDatabase, run.services.store)
        assert not db.fields.enabled
        await converse(run)
        stored = await db.fetch("SELECT address, address_hash FROM channel_contacts")
        assert len(stored) == 3 and all(r["address"] == r["address_hash"] for r in stored)


async def test_contacts_from_before_encryption_are_found_then_sealed_by_reencrypt(
    tmp_path, database_url
):
    plain = cast(SqlDatabase, open_store(database_url))
    await plain.connect()
    try:
        await plain.migrate()
        await contacts.file(plain, "demo", "sms", NUMBER, "v-1", "c-1")
        await contacts.file(plain, "demo", "api", "app-user-7", "v-2", "c-2")
    finally:
        await plain.close()
    keyring = Keyring(EnvKeySource(new_keyset().to_json()))
    db = cast(SqlDatabase, open_store(database_url))
    db.fields = FieldCipher(keyring)
    await db.connect()
    try:
        # before re-encryption: found by address, and every update reaches the old row
        old = await contacts.find(db, "demo", "sms", NUMBER)
        assert old is not None and old.conversation_id == "v-1"
        assert (
            await contacts.file(db, "demo", "sms", NUMBER, "v-9", "c-9")
        ).conversation_id == "v-1"
        assert await contacts.set_consent(db, "demo", "sms", NUMBER, "out")
        await contacts.touch_inbound(db, "demo", "sms", NUMBER)
        found = await contacts.find(db, "demo", "sms", NUMBER)
        assert found is not None and found.opted_out and found.in_service_window()
        assert len(await db.fetch("SELECT * FROM channel_contacts")) == 2, "no second row"
        assert leaks(await raw_rows(db), PHONES)

        done = await reencrypt(db, batch=1)
        assert {p.table: p.changed for p in done}["channel_contacts"] == 2
        assert leaks(await raw_rows(db), PHONES) == {}
        counts = {p.table: dict(p.keys) for p in await census(db)}
        assert PLAIN not in counts["channel_contacts"]
        assert all(p.changed == 0 for p in await reencrypt(db))
        for channel, address, conversation in (
            ("sms", NUMBER, "v-1"),
            ("api", "app-user-7", "v-2"),
        ):
            found = await contacts.find(db, "demo", channel, address)
            assert found is not None and found.conversation_id == conversation
            assert found.address == address
        assert (await contacts.for_conversation(db, "v-1")).opted_out  # type: ignore[union-attr]
        assert await contacts.set_consent(db, "demo", "sms", NUMBER, "in")
        assert (await contacts.find(db, "demo", "sms", NUMBER)).consent == "in"  # type: ignore[union-attr]
        row = await db.fetchrow(
            "SELECT address_hash FROM channel_contacts WHERE conversation_id = 'v-1'"
        )
        assert row["address_hash"] == db.fields.lookup("address", NUMBER)
    finally:
        await db.close()


async def test_migration_0027_keeps_contacts_filed_before_it(tmp_path, database_url, monkeypatch):
    from smartsupport.storage import migrator, postgres, sqlite_jobs

    def before_0027(dialect: str) -> list[migrator.Migration]:
        return [m for m in migrator.discover(dialect) if m.version < 27]

    for module in (postgres, sqlite_jobs):
        monkeypatch.setattr(module, "discover", before_0027)
    old = cast(SqlDatabase, open_store(database_url))
    await old.connect()
    try:
        await old.migrate()
        await old.execute(
            "INSERT INTO channel_contacts (workspace_id, channel, address, conversation_id, "
            "customer_id, consent, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            *("demo", "whatsapp", WA_ID, "v-1", "c-1", "out", utcnow()),
        )
    finally:
        await old.close()
    monkeypatch.undo()
    db = cast(SqlDatabase, open_store(database_url))
    db.fields = FieldCipher(Keyring(EnvKeySource(new_keyset().to_json())))
    await db.connect()
    try:
        assert 27 in await db.migrate()
        found = await contacts.find(db, "demo", "whatsapp", WA_ID)
        assert found is not None and found.conversation_id == "v-1" and found.opted_out
        await reencrypt(db)
        row = await db.fetchrow("SELECT address, address_hash FROM channel_contacts")
        assert is_sealed(row["address"]) and row["address_hash"] == db.fields.lookup(
            "address", WA_ID
        )
        assert (await contacts.for_conversation(db, "v-1")).address == WA_ID  # type: ignore[union-attr]
    finally:
        await db.close()
