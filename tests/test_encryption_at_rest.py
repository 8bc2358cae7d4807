"""Field encryption at rest, on the embedded default (SQLite with the key file it creates) and
on PostgreSQL + Redis: after real chats, no table holds a customer's words, name, email or
metadata in clear (nor, on SQLite, the database and WAL files); the product still reads
them, finds customers by email and external id, exports and erases them; rows from before
encryption are sealed by `keys reencrypt`, and after `keys rotate` + `keys reencrypt` the
old key can go (docs/security.md)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr
from staffkit import staff_app, staff_client

from smartsupport import cli, customer_data
from smartsupport.attachments.directory import DirectoryStore
from smartsupport.attachments.sealed import MAGIC, SealedStore
from smartsupport.domain import Author, Conversation, Customer, OutboxItem, Workspace, utcnow
from smartsupport.errors import EncryptionError
from smartsupport.helpdesk.tickets import join_batch
from smartsupport.inbox import search_index
from smartsupport.inbox.search import SearchQuery, search
from smartsupport.inbox.store import InboxStore
from smartsupport.keyring import EnvKeySource, FileKeySource, Keyring, KeySet, new_keyset
from smartsupport.outbox import enqueue, get
from smartsupport.services import Services, open_services
from smartsupport.settings import Settings
from smartsupport.storage import open_store
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.reencrypt import PLAIN, census, reencrypt

ADA = {
    "external_id": "shop-user-8812",
    "name": "Ada Lovelace",
    "email": "ada.lovelace@example.com",
    "metadata": {"plan": "platinum-zebra"},
}
ADA_SAYS = "My parcel to Zanzibar never arrived"
NOTE = "VIP, collects okapi figurines"
SECRETS = ("shop-user-8812", "Lovelace", "ada.lovelace", "platinum-zebra", "Zanzibar", "okapi")


def old_keys_removed(keys: KeySet) -> KeySet:
    """``keys`` once every value is sealed with its primary: the operator's last step of a
    rotation (docs/security.md), after which old values must still read."""
    return replace(keys, keys={keys.primary: keys.keys[keys.primary]})


@pytest.fixture(params=["embedded", "postgres+redis"])
def options(request, tmp_path, monkeypatch) -> dict[str, Any]:
    found: dict[str, Any] = {"conversation_rate_limit_per_minute": 1000}
    if request.param == "embedded":
        # the embedded default: no keys given, a key file is created beside the database
        monkeypatch.delenv("SMARTSUPPORT_ENCRYPTION_KEYS", raising=False)
    else:
        found["database_url"] = request.getfixturevalue("postgres_url")
        found["redis_url"] = request.getfixturevalue("redis_url")
    return found


def chat(client, customer: dict[str, Any], text: str) -> str:
    started = client.post("/api/v1/conversations", json={"workspace": "demo", "customer": customer})
    assert started.status_code == 201, started.text
    conversation = started.json()
    sent = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": text},
        headers={"Authorization": f"Bearer {conversation['token']}"},
    )
    assert sent.status_code == 201, sent.text
    return str(conversation["id"])


async def raw_rows(db: SqlDatabase) -> dict[str, str]:
    """Every table's rows as stored, as text."""
    if db.dialect == "sqlite":
        tables = [
            r["name"] for r in await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {t: repr(await db.fetch(f'SELECT * FROM "{t}"')) for t in tables}
    tables = [
        r["table_name"]
        for r in await db.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    ]
    return {
        t: repr([r["row"] for r in await db.fetch(f'SELECT CAST(t AS TEXT) AS row FROM "{t}" t')])
        for t in tables
    }


def leaks(rows: dict[str, str], secrets: tuple[str, ...]) -> dict[str, list[str]]:
    found = {t: [s for s in secrets if s.lower() in text.lower()] for t, text in rows.items()}
    return {t: s for t, s in found.items() if s}


def test_no_table_holds_customers_data_in_clear(options, tmp_path):
    app, _ = staff_app(tmp_path, **options)
    with staff_client(app) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        db = cast(SqlDatabase, services.store)
        assert db.fields.enabled
        conversation_id = chat(client, ADA, ADA_SAYS)

        async def more() -> None:
            await InboxStore(db).add_note(conversation_id, "s1", "Agent Smith", NOTE)
            ticket = {"conversation_id": conversation_id, "question": ADA_SAYS}
            item = OutboxItem("ticket.create", ticket, f"ticket:{conversation_id}")
            await enqueue(db, "demo", item)
            request = {
                "conversation_id": conversation_id,
                "email": ADA["email"],
                "question": ADA_SAYS,
            }
            now = utcnow()
            await join_batch(db, "demo", "batch:demo:1", now, request, now)  # batched ticket
            contact = {"email": "ada.lovelace@example.com", "name": "Ada Lovelace"}
            await services.store.update_conversation_metadata(
                conversation_id, {"contact": contact, "ticket_reference": "R-1"}
            )  # as the contact form keeps it
            stored = await services.store.get_conversation(conversation_id)
            assert stored is not None and stored.metadata["contact"] == contact
            # the transcript search index: FTS5 / tsvector terms are keyed hashes
            await search_index.catch_up(db, blind=db.fields.search_blind())
            found = await search(
                db, ["demo"], SearchQuery(text="zanzibar", customer="Lovelace"),
                blind=db.fields.search_blind(),
            )  # fmt: skip
            assert [card.conversation_id for card in found] == [conversation_id]
            assert found[0].customer_name == "Ada Lovelace"

        client.portal.call(more)
        rows = client.portal.call(raw_rows, db)
        assert leaks(rows, SECRETS) == {}
        if db.dialect == "sqlite":
            database = Path(services.settings.database_url.removeprefix("sqlite:///"))
            assert Path(f"{database}.keys").exists()
            for path in (database, Path(f"{database}-wal")):
                if path.exists():
                    raw = path.read_bytes()
                    assert not [s for s in SECRETS if s.encode() in raw], path

        async def read_back() -> dict[str, Any]:
            found = await customer_data.find_customers(
                services, "demo", email="ADA.Lovelace@example.com"
            )
            assert [c.name for c in found] == ["Ada Lovelace"]
            by_id = found[0]  # (a visitor's external id counts only when signed: not here)
            assert by_id.metadata == ADA["metadata"]
            messages = await services.store.list_messages(conversation_id)
            assert ADA_SAYS in [m.text for m in messages]
            notes = await InboxStore(db).notes(conversation_id)
            assert [n.text for n in notes] == [NOTE]
            return await customer_data.export_customer(services, by_id.id, actor="test")

        exported = json.dumps(client.portal.call(read_back), default=str)
        for secret in SECRETS[1:]:  # (an unsigned visitor's external id is not kept)
            assert secret in exported  # the export is the customer's data, readable

        async def erase() -> dict[str, str]:
            found = await customer_data.find_customers(services, "demo", email=ADA["email"])
            done = await customer_data.erase_customer(services, found[0].id, actor="test")
            assert done.outbox >= 1 and done.notes == 1
            return await raw_rows(db)

        after = client.portal.call(erase)
        assert "ticket:" + conversation_id not in after["outbox"]
        assert conversation_id not in after["helpdesk_batch_items"]


async def legacy_rows(url: str) -> None:
    """Rows as a release before field encryption wrote them: in clear."""
    plain = open_store(url)
    await plain.connect()
    try:
        await plain.migrate()
        await plain.upsert_workspace(Workspace(id="demo", name="Demo", config={}))
        grace = Customer(
            id="c-grace", workspace_id="demo", external_id="shop-user-1906",
            name="Grace Hopper", email="grace@example.com", metadata={"team": "cobol-moth"},
        )  # fmt: skip
        await plain.create_customer(grace)
        await plain.create_conversation(
            Conversation(
                id="v-grace",
                workspace_id="demo",
                customer_id="c-grace",
                metadata={"contact": {"email": "hopper@navy.example", "name": "G. Hopper"}},
            )  # fmt: skip
        )
        await plain.append_message("v-grace", Author.CUSTOMER, "the moth in relay 70")
        await enqueue(
            cast(SqlDatabase, plain),
            "demo",
            OutboxItem("ticket.create", {"text": "the moth in relay 70"}, "ticket:v-grace"),
        )
    finally:
        await plain.close()


GRACE = ("Hopper", "grace@example.com", "cobol-moth", "relay 70", "shop-user-1906", "navy.ex")


async def test_reencrypt_seals_old_rows_and_rotation_retires_the_old_key(options, tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="s", demo=False, **options)
    if "database_url" not in options:
        settings = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/s.db"})
    await legacy_rows(settings.database_url)
    services = await open_services(settings)
    db = cast(SqlDatabase, services.store)
    try:
        # before: readable and findable as they are
        found = await customer_data.find_customers(services, "demo", email="Grace@example.com")
        assert [c.name for c in found] == ["Grace Hopper"]
        assert leaks(await raw_rows(db), GRACE)

        done = await reencrypt(db, batch=1)  # one row per transaction: resuming works row-wise
        assert {p.table: p.changed for p in done}["customers"] == 1
        assert leaks(await raw_rows(db), GRACE) == {}
        assert all(PLAIN not in p.keys for p in await census(db))
        assert (await services.store.find_customer("demo", "shop-user-1906")) is not None
        found = await customer_data.find_customers(services, "demo", email="grace@example.com")
        assert [c.metadata for c in found] == [{"team": "cobol-moth"}]
        again = await reencrypt(db)
        assert sum(p.changed for p in again) == 0  # nothing left to do: a rerun is cheap
        old = db.fields.keyring.keyset  # type: ignore[union-attr]
    finally:
        await services.close()

    rotated = old.with_new_primary()
    retired = old_keys_removed(rotated)
    for keys in (rotated, retired):  # rotate, reencrypt; then the old key is removed
        services = await open_services(keyed(settings, keys, tmp_path))
        db = cast(SqlDatabase, services.store)
        try:
            await reencrypt(db)
            counts = {p.table: dict(p.keys) for p in await census(db)}
            assert counts["messages"] == {rotated.primary: 1}
            assert counts["outbox"] == {rotated.primary: 1}
            assert counts["conversations"] == {rotated.primary: 1}  # the contact form's details
            conversation = await services.store.get_conversation("v-grace")
            assert conversation.metadata["contact"]["name"] == "G. Hopper"  # type: ignore[union-attr]
            messages = await services.store.list_messages("v-grace")
            assert messages[0].text == "the moth in relay 70"
            entry = (await customer_data._outbox_rows(db, ["v-grace"]))[0]
            assert entry["payload"] == {"text": "the moth in relay 70"}
            assert (await get(db, entry["id"])).payload == entry["payload"]  # type: ignore[union-attr]
        finally:
            await services.close()

    # a keyring without the key a value was sealed with: a clear error, not garbage
    services = await open_services(
        keyed(settings, KeySet({"other": b"k" * 32}, "other", old.index_key), tmp_path)
    )
    try:
        with pytest.raises(EncryptionError, match=f"key {rotated.primary!r}.*keys reencrypt"):
            await services.store.list_messages("v-grace")
    finally:
        await services.close()


def keyed(settings: Settings, keys: KeySet, tmp_path: Path) -> Settings:
    if settings.database_url.startswith("sqlite"):
        path = tmp_path / "rotated.keys"
        path.unlink(missing_ok=True)
        FileKeySource(path).create()
        FileKeySource(path).save(keys)
        return settings.model_copy(update={"encryption_key_file": path, "encryption_keys": None})
    return settings.model_copy(update={"encryption_keys": SecretStr(keys.to_json())})


def test_the_key_commands_rotate_and_reencrypt(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SMARTSUPPORT_ENCRYPTION_KEYS", raising=False)
    monkeypatch.setenv("SMARTSUPPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTSUPPORT_DEMO", "false")
    monkeypatch.setenv("SMARTSUPPORT_SECRET_KEY", "s")
    url = f"sqlite:///{tmp_path}/smartsupport.db"
    asyncio.run(legacy_rows(url))
    assert cli.main(["keys", "create"]) == 0
    source = FileKeySource(tmp_path / "smartsupport.db.keys")
    first = source.load().primary
    assert cli.main(["keys", "reencrypt", "--batch", "1"]) == 0
    assert cli.main(["keys", "rotate"]) == 0
    second = source.load().primary
    assert second != first and first in source.load().keys
    assert cli.main(["keys", "reencrypt"]) == 0
    capsys.readouterr()
    assert cli.main(["keys", "status"]) == 0
    status = capsys.readouterr().out
    assert (
        f"messages\t{second}: 1" in status
        and first not in status.split("keys\t")[1].split("\n", 1)[1]
    )
    assert cli.main(["keys", "rotate", "--print"]) == 0
    printed = KeySet.from_json(capsys.readouterr().out, "printed")
    assert source.load().primary == second != printed.primary  # --print changes nothing


async def test_attachments_are_sealed_on_disk(tmp_path):
    keyring = Keyring(EnvKeySource(new_keyset().to_json()))
    plain = DirectoryStore(tmp_path)
    files = SealedStore(plain, keyring)
    await files.put("demo/ab/abc.pdf", b"%PDF passport of Ada Lovelace")
    on_disk = (tmp_path / "demo/ab/abc.pdf").read_bytes()
    assert on_disk.startswith(MAGIC) and b"Lovelace" not in on_disk
    assert await files.get("demo/ab/abc.pdf") == b"%PDF passport of Ada Lovelace"
    await plain.put("demo/ab/old.pdf", b"%PDF from before")  # stored before encryption
    assert await files.get("demo/ab/old.pdf") == b"%PDF from before"
    (tmp_path / "demo/ab/moved.pdf").write_bytes(on_disk)  # a file copied under another key
    with pytest.raises(EncryptionError):
        await files.get("demo/ab/moved.pdf")


def test_a_moved_ciphertext_is_an_error_answer_never_another_message(tmp_path, caplog):
    app, _ = staff_app(tmp_path, conversation_rate_limit_per_minute=1000)
    with staff_client(app) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        db = cast(SqlDatabase, services.store)
        started = client.post("/api/v1/conversations", json={"workspace": "demo"}).json()
        auth = {"Authorization": f"Bearer {started['token']}"}
        url = f"/api/v1/conversations/{started['id']}/messages"
        assert client.post(url, json={"text": ADA_SAYS}, headers=auth).status_code == 201

        async def swap() -> None:
            rows = await db.fetch(
                "SELECT id, text FROM messages WHERE conversation_id = ? ORDER BY seq",
                started["id"],
            )
            # someone with database access copies one message's ciphertext over another's
            await db.execute(
                "UPDATE messages SET text = ? WHERE id = ?", rows[-1]["text"], rows[0]["id"]
            )

        client.portal.call(swap)
        answer = client.get(url, headers=auth)
        assert answer.status_code == 500
        assert answer.json() == {
            "error": {
                "code": "stored_data_unreadable",
                "message": "stored data could not be decrypted",
            }
        }
        assert "changed or moved" in caplog.text  # the operator's log says what happened
