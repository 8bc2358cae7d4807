"""Changing the index key (keyring.py ``next_index_key``, reindex.py, ``keys rotate-index`` /
``keys reindex``; docs/security.md "Changing the index key"), on SQLite and PostgreSQL, with
the store open throughout as a server's is: customers, messaging contacts, the transcript
search and the analytics rollup's question hashes stay findable during the change, an
interrupted re-index resumes, and afterwards the old key is gone from the keyring and none
of its hashes is left in the database."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import Any, cast

import pytest

from smartsupport import audit, cli, customer_data
from smartsupport.analytics_report import question_key
from smartsupport.analytics_rollup import question_hash
from smartsupport.channels import contacts
from smartsupport.domain import Author, Conversation, Customer, Workspace, utcnow
from smartsupport.errors import ConfigurationError
from smartsupport.inbox import search_index
from smartsupport.inbox.search import SearchQuery, search
from smartsupport.keyring import (
    FileKeySource,
    Keyring,
    KeySet,
    key_check,
    keyed_hash,
    new_keyset,
)
from smartsupport.reindex import forget, progress, reindex
from smartsupport.services import Services, open_services
from smartsupport.settings import Settings
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.fields import LOOKUPS
from tests.test_encryption_at_rest import raw_rows

ADDRESS = "+4915112345678"
QUESTION = "Can I pay with a cheque from Tuvalu?"


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path, monkeypatch) -> Settings:
    # servers re-read a changed key file at most every RELOAD_SECONDS: at once here
    monkeypatch.setattr("smartsupport.keyring.RELOAD_SECONDS", 0)
    FileKeySource(tmp_path / "keys").create()
    url = (
        f"sqlite:///{tmp_path}/s.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    return Settings(
        data_dir=tmp_path,
        secret_key="s",
        demo=False,
        database_url=url,
        encryption_keys=None,
        encryption_key_file=tmp_path / "keys",
    )


async def seed(services: Services, db: SqlDatabase) -> None:
    """Ada with a conversation, a WhatsApp contact and an unanswered question, indexed."""
    store = services.store
    await store.upsert_workspace(Workspace(id="demo", name="Demo", config={}))
    ada = Customer(
        id="c-ada", workspace_id="demo", external_id="shop-user-8812", name="Ada Lovelace",
        email="ada.lovelace@example.com",
    )  # fmt: skip
    await store.create_customer(ada)
    await store.create_conversation(
        Conversation(id="v-ada", workspace_id="demo", customer_id="c-ada")
    )
    await store.append_message("v-ada", Author.CUSTOMER, "My parcel to Zanzibar never arrived")
    asked = await store.append_message("v-ada", Author.CUSTOMER, QUESTION)
    await contacts.file(db, "demo", "whatsapp", ADDRESS, "v-ada", "c-ada")
    await db.execute(
        "INSERT INTO analytics_rollup_questions (conversation_id, turn, question, message_id, "
        "workspace_id, created_us, channel, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "v-ada", 1, question_hash(db.fields, QUESTION), asked.id, "demo", 0, "web", "en",
    )  # fmt: skip
    await search_index.catch_up(db, blind=search_index.blind_for(db))


async def findable(services: Services, db: SqlDatabase, *words: str) -> None:
    """Ada is found by external id, email, WhatsApp number and transcript words."""
    assert (await services.store.find_customer("demo", "shop-user-8812")) is not None
    found = await customer_data.find_customers(services, "demo", email="ADA.Lovelace@example.com")
    assert [c.id for c in found] == ["c-ada"]
    contact = await contacts.find(db, "demo", "whatsapp", ADDRESS)
    assert contact is not None and contact.conversation_id == "v-ada"
    blind = search_index.blind_for(db)
    await search_index.catch_up(db, blind=blind)
    previous = search_index.previous_blind_for(db)
    for query in [SearchQuery(text=w) for w in words] + [SearchQuery(customer="Lovelace")]:
        cards = await search(db, ["demo"], query, blind=blind, previous=previous)
        assert [c.conversation_id for c in cards] == ["v-ada"], query


class Stop(Exception):
    pass


async def test_the_index_key_changes_and_nothing_is_unfindable_meanwhile(settings):
    source = FileKeySource(settings.encryption_key_file)  # type: ignore[arg-type]
    old = source.load().index_key
    services = await open_services(settings)
    db = cast(SqlDatabase, services.store)
    try:
        await seed(services, db)
        await findable(services, db, "zanzibar", "parcel")
        a_stop = utcnow()
        assert await contacts.set_consent(db, "demo", "whatsapp", ADDRESS, "out")

        source.save(source.load().with_next_index_key())  # keys rotate-index
        new = source.load().next_index_key
        assert new is not None
        assert db.fields.keyring.index_keys() == (new, old)  # type: ignore[union-attr]
        # during the change: old rows found by the old hashes, new ones made with the new key
        await findable(services, db, "zanzibar")
        await services.store.append_message("v-ada", Author.CUSTOMER, "okapi figurines")
        bob = Customer(id="c-bob", workspace_id="demo", external_id="u-2", email="bob@example.com")
        await services.store.create_customer(bob)
        assert (await services.store.find_customer("demo", "u-2")) is not None
        await findable(services, db, "zanzibar", "okapi")  # one entry holding both keys' hashes
        # a race filed the address again under the new hash: the re-index folds the two
        await twin_contact(db, new)

        # an interrupted re-index keeps its place; everything stays findable meanwhile
        seen: list[str] = []

        def crash(step: Any) -> None:
            seen.append(step.table)
            if len(seen) == 4:  # in the middle of the contacts
                raise Stop

        with pytest.raises(Stop):
            await reindex(db, batch=1, report=crash)
        await findable(services, db, "zanzibar", "okapi")
        kept = {p.table: p for p in await progress(db, _check(new))}
        assert kept["customers"].finished and kept["customers"].visited == 2
        assert not kept["channel_contacts"].finished and kept["channel_contacts"].visited == 1
        done = await reindex(db, batch=1)
        totals = {p.table: (p.visited, p.changed) for p in done}
        assert totals["customers"] == (2, 1)  # not visited twice; Bob had the new hashes
        assert totals["channel_contacts"] == (2, 1)  # the two rows of one address folded
        assert totals["analytics_rollup_questions"] == (1, 1)
        assert totals["conversation_search"] == (1, 1)
        await findable(services, db, "zanzibar", "okapi")

        source.save(source.load().finish_index_change())  # the end of keys reindex
        await forget(db)
        assert db.fields.keyring.index_keys() == (new,)  # type: ignore[union-attr]
        await findable(services, db, "zanzibar", "okapi")
        assert (await services.store.find_customer("demo", "u-2")) is not None
        kept_rows = await db.fetch("SELECT consent, consent_at FROM channel_contacts")
        assert len(kept_rows) == 1 and kept_rows[0]["consent"] == "out"  # the STOP is kept
        assert kept_rows[0]["consent_at"] >= a_stop

        text = settings.encryption_key_file.read_text()  # type: ignore[union-attr]
        assert base64.b64encode(old).decode() not in text and "next_index_key" not in text
        assert KeySet.from_json(text, "file").index_key == new
        rows = await raw_rows(db)
        stale = [
            keyed_hash(old, kind, LOOKUPS[kind](value))
            for kind, value in (
                ("email", "ada.lovelace@example.com"), ("external_id", "shop-user-8812"),
                ("email", "bob@example.com"), ("external_id", "u-2"), ("address", ADDRESS),
            )
        ] + [
            keyed_hash(old, "search_term", w) for w in ("zanzibar", "parcel", "okapi", "lovelace")
        ] + [question_hash_under(old, QUESTION)]  # fmt: skip
        left = {t: [h for h in stale if h in text] for t, text in rows.items()}
        assert {t: found for t, found in left.items() if found} == {}
        # (PostgreSQL's parser splits some hashes in a tsvector: search by the old key too)
        by_old = lambda term: keyed_hash(old, "search_term", term)  # noqa: E731
        for query in (SearchQuery(text="zanzibar"), SearchQuery(customer="Lovelace")):
            assert await search(db, ["demo"], query, blind=by_old) == []
    finally:
        await services.close()


def _check(key: bytes) -> str:
    return key_check(key)


def question_hash_under(key: bytes, text: str) -> str:
    return keyed_hash(key, "analytics_question", question_key(text))


async def twin_contact(db: SqlDatabase, new: bytes) -> None:
    """What a server that missed the old row would have filed: the address under its new
    hash, with an older consent decision than the old row's STOP."""
    fresh = keyed_hash(new, "address", ADDRESS)
    row = {"workspace_id": "demo", "channel": "whatsapp", "address_hash": fresh}
    sealed = db.fields.seal_row("channel_contacts", {**row, "address": ADDRESS})["address"]
    await db.execute(
        "INSERT INTO channel_contacts (workspace_id, channel, address, address_hash, "
        "conversation_id, customer_id, consent, consent_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "demo", "whatsapp", sealed, fresh, "v-ada", "c-ada",
        "in", utcnow() - timedelta(days=1), utcnow(),
    )  # fmt: skip


def test_a_keyring_holds_a_next_index_key_beside_the_old_one(tmp_path, monkeypatch):
    monkeypatch.setattr("smartsupport.keyring.RELOAD_SECONDS", 0)
    source = FileKeySource(tmp_path / "keys")
    before = source.create()
    keyring = Keyring(source)
    one = keyring.blinds("email", "a@example.com")
    assert one[0] == one[1] == keyring.blind("email", "a@example.com")  # one SQL shape
    changing = before.with_next_index_key()
    assert KeySet.from_json(changing.to_json(), "text") == changing
    assert "next_index_key" not in before.to_json()
    source.save(changing)  # a running server's keyring takes it up from the file
    new, old = keyring.blinds("email", "a@example.com")
    assert old == one[0] and new == keyring.blind("email", "a@example.com") != old
    assert changing.with_new_primary().next_index_key == changing.next_index_key
    source.save(changing.finish_index_change())
    assert keyring.blinds("email", "a@example.com") == (new, new)


async def test_a_reindex_without_a_next_key_names_the_command(settings):
    services = await open_services(settings)
    try:
        with pytest.raises(ConfigurationError, match="keys rotate-index"):
            await reindex(cast(SqlDatabase, services.store))
        with pytest.raises(ConfigurationError, match="not being changed"):
            FileKeySource(settings.encryption_key_file).load().finish_index_change()  # type: ignore[arg-type]
        keys = FileKeySource(settings.encryption_key_file).load().with_next_index_key()  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="already being changed"):
            keys.with_next_index_key()
    finally:
        await services.close()


def test_the_key_commands_change_the_index_key(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SMARTSUPPORT_ENCRYPTION_KEYS", raising=False)
    monkeypatch.setenv("SMARTSUPPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTSUPPORT_DEMO", "false")
    monkeypatch.setenv("SMARTSUPPORT_SECRET_KEY", "s")
    monkeypatch.setattr("smartsupport.key_commands.RELOAD_SECONDS", 0)
    assert cli.main(["keys", "create"]) == 0
    source = FileKeySource(tmp_path / "smartsupport.db.keys")
    old = source.load().index_key

    async def seeded() -> None:
        services = await open_services(Settings())
        try:
            await seed(services, cast(SqlDatabase, services.store))
        finally:
            await services.close()

    asyncio.run(seeded())
    assert cli.main(["keys", "rotate-index"]) == 0
    new = source.load().next_index_key
    assert new is not None and source.load().index_key == old
    capsys.readouterr()
    assert cli.main(["keys", "status"]) == 0
    assert f"changing to {_check(new)}" in capsys.readouterr().out
    assert cli.main(["keys", "reindex", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "customers\t1 rows\t1 re-hashed" in out and "conversation_search\t1 rows" in out
    assert source.load().index_key == new and source.load().next_index_key is None
    assert cli.main(["keys", "status"]) == 0
    assert f"index key\t{_check(new)}" in capsys.readouterr().out

    async def audited() -> list[Any]:
        services = await open_services(Settings())
        try:
            db = cast(SqlDatabase, services.store)
            assert await db.fetch("SELECT * FROM index_rotation") == []
            return [e for e in await audit.entries(db) if e.action == "keys.reindexed"]
        finally:
            await services.close()

    [entry] = asyncio.run(audited())
    assert entry.target == f"index:{_check(new)}" and entry.details["customers"] == 1


def test_with_keys_in_the_environment_the_commands_print_the_keyrings(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SMARTSUPPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTSUPPORT_DEMO", "false")
    monkeypatch.setenv("SMARTSUPPORT_SECRET_KEY", "s")
    monkeypatch.setenv("SMARTSUPPORT_ENCRYPTION_KEYS", new_keyset().to_json())
    capsys.readouterr()
    assert cli.main(["keys", "rotate-index", "--print"]) == 0
    changing = KeySet.from_json(capsys.readouterr().out, "printed")
    assert changing.next_index_key is not None
    monkeypatch.setenv("SMARTSUPPORT_ENCRYPTION_KEYS", changing.to_json())
    assert cli.main(["keys", "reindex"]) == 0
    printed = capsys.readouterr().out.strip().split("\n")[-1]  # after the tables
    finished = KeySet.from_json(printed, "printed")
    assert finished.index_key == changing.next_index_key and finished.next_index_key is None
    assert finished.keys == changing.keys


async def test_look_ups_never_miss_while_a_reindex_runs_beside_them(settings):
    """A server's work (look-ups, searches, new messages indexed) interleaved with a
    re-index of small batches on the same database: every look-up finds its row."""
    source = FileKeySource(settings.encryption_key_file)  # type: ignore[arg-type]
    services = await open_services(settings)
    db = cast(SqlDatabase, services.store)
    store = services.store
    try:
        await store.upsert_workspace(Workspace(id="demo", name="Demo", config={}))
        for i in range(24):
            await store.create_customer(
                Customer(
                    id=f"c{i}", workspace_id="demo", external_id=f"u{i}", email=f"p{i}@x.example"
                )
            )
            await store.create_conversation(
                Conversation(id=f"v{i}", workspace_id="demo", customer_id=f"c{i}")
            )
            await store.append_message(f"v{i}", Author.CUSTOMER, f"word{i} wombat")
            await contacts.file(db, "demo", "sms", f"+1555000{i:04}", f"v{i}", f"c{i}")
        await search_index.catch_up(db, blind=search_index.blind_for(db))
        source.save(source.load().with_next_index_key())
        assert len(db.fields.keyring.index_keys()) == 2  # type: ignore[union-attr]
        running = True
        misses: list[str] = []
        rounds = 0
        seen: list[int] = []  # the server's rounds so far, at each batch the re-index made

        async def server() -> None:
            nonlocal rounds
            while running:  # only while the re-index runs
                i = rounds % 24
                if await store.find_customer("demo", f"u{i}") is None:
                    misses.append(f"external id u{i}")
                found = await customer_data.find_customers(
                    services, "demo", email=f"P{i}@x.example"
                )
                if [c.id for c in found] != [f"c{i}"]:
                    misses.append(f"email p{i}")
                if await contacts.find(db, "demo", "sms", f"+1555000{i:04}") is None:
                    misses.append(f"address {i}")
                await store.append_message(f"v{i}", Author.CUSTOMER, f"later{rounds}")
                blind = search_index.blind_for(db)
                await search_index.catch_up(db, blind=blind)
                previous = search_index.previous_blind_for(db)
                for words in (f"word{i}", f"later{rounds}"):
                    cards = await search(
                        db, ["demo"], SearchQuery(text=words), blind=blind, previous=previous
                    )
                    if [c.conversation_id for c in cards] != [f"v{i}"]:
                        misses.append(f"search {words}")
                rounds += 1
                await asyncio.sleep(0)

        async def reindexing() -> None:
            nonlocal running
            try:
                await reindex(db, batch=2, report=lambda step: seen.append(rounds))
            finally:
                running = False

        await asyncio.gather(server(), reindexing())
        assert misses == []
        assert seen[0] < seen[-1]  # the server's work went on between the batches
        source.save(source.load().finish_index_change())
        await forget(db)
        for i in range(24):
            assert await store.find_customer("demo", f"u{i}") is not None
            assert await contacts.find(db, "demo", "sms", f"+1555000{i:04}") is not None
    finally:
        await services.close()
