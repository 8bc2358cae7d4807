"""Attachment files named by a keyed hash (attachment_records.content_name; docs/security.md
"Encryption at rest"), on SQLite and PostgreSQL.

With a keyring a file is stored under the keyed hash of its SHA-256 (HMAC under the index
key), never the SHA-256, so whoever reads the directory cannot tell whether a file they hold
is stored; the same content is still stored once. A row's ``storage_key`` is read as it was
stored, never computed again: files stored before (named by their SHA-256) and files named
under an index key since changed (``keys rotate-index`` + ``keys reindex``) stay readable,
are re-sealed by ``keys reencrypt`` and deleted by erasure once no row names them. Without
a keyring the name is the SHA-256, as before."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from smartsupport import attachment_records
from smartsupport import reindex as reindex_module
from smartsupport.attachments.directory import DirectoryStore
from smartsupport.attachments.sealed import SealedStore
from smartsupport.customer_data import delete_conversations, delete_files
from smartsupport.domain import Author, Conversation, Customer, Message, Workspace, utcnow
from smartsupport.ids import new_id
from smartsupport.keyring import EnvKeySource, Keyring, KeySet, keyed_hash, new_keyset
from smartsupport.reindex import FILES, forget, reindex
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.fields import FieldCipher
from smartsupport.storage.reencrypt import reencrypt_files
from tests.test_encryption_at_rest import leaks, raw_rows
from tests.test_encryption_rotation import opened

PDF = b"%PDF-1.4 the invoice of order ORD-55512 " + bytes(range(256))
SHA = hashlib.sha256(PDF).hexdigest()
OLD_KEY = f"demo/{SHA[:2]}/{SHA}.pdf"  # how files were named before (and without a keyring)


def running(db: SqlDatabase, root: Path) -> Services:
    """What ``attachment_records`` needs of a server: settings, the store and the files
    (sealed when the store has a keyring, as services.open_services builds them)."""
    files = DirectoryStore(root)
    keyring = db.fields.keyring
    settings = Settings(data_dir=root.parent, secret_key="s", demo=False)
    store = SealedStore(files, keyring) if keyring is not None else files
    return cast(Services, SimpleNamespace(settings=settings, store=db, attachments=store))


def using(db: SqlDatabase, keys: KeySet) -> None:
    """The store and its servers now hold ``keys`` (a key file re-read, or a restart)."""
    db.fields = FieldCipher(Keyring(EnvKeySource(keys.to_json())))


async def conversations(db: SqlDatabase, *ids: str) -> None:
    await db.upsert_workspace(Workspace(id="demo", name="Demo", config={}))
    for conversation_id in ids:
        customer = f"c-{conversation_id}"
        await db.create_customer(Customer(id=customer, workspace_id="demo"))
        await db.create_conversation(
            Conversation(id=conversation_id, workspace_id="demo", customer_id=customer)
        )


async def keep(services: Services, conversation_id: str) -> attachment_records.Attachment:
    return await attachment_records.keep(
        services,
        workspace_id="demo",
        conversation_id=conversation_id,
        data=PDF,
        filename="invoice.pdf",
        source="widget",
    )


async def listed(services: Services, attachment: attachment_records.Attachment) -> None:
    """A message that lists the file, as the widget's upload route stores one."""
    message = Message(
        new_id(),
        attachment.conversation_id,
        0,
        Author.CUSTOMER,
        "",
        meta={"attachments": [attachment.descriptor()]},
    )
    await services.store.record_turn(attachment.conversation_id, [message])
    await attachment_records.link(services, [attachment.id], attachment.conversation_id, message.id)


async def readable(services: Services, attachment_id: str) -> bool:
    found = await attachment_records.find(services, attachment_id)
    return found is not None and await attachment_records.read(services, found) == PDF


async def erase(services: Services, *conversation_ids: str) -> None:
    """What an erasure or a retention purge does to these conversations' files."""
    db = cast(SqlDatabase, services.store)
    async with db.transaction() as tx:
        done = await delete_conversations(tx, list(conversation_ids))
    await delete_files(db, done, attachment_records.store_of(services))


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


async def test_files_are_named_by_a_keyed_hash_and_renamed_when_the_index_key_changes(
    database_url, tmp_path, monkeypatch
):
    keys = new_keyset()
    db = await opened(database_url, keys)
    root = tmp_path / "attachments"
    try:
        services = running(db, root)
        await conversations(db, "v1", "v2", "v3", "v4")
        first = await keep(services, "v1")
        name = keyed_hash(keys.index_key, "attachment", SHA)
        assert first.storage_key == f"demo/{name[:2]}/{name}.pdf" and first.sha256 == name
        assert names(root) == [f"{name}.pdf"]
        assert not any(SHA in p for p in map(str, root.rglob("*")))  # not even a folder
        assert not (root / first.storage_key).read_bytes().startswith(b"%PDF")  # sealed
        again = await keep(services, "v2")  # the same file in another conversation
        assert again.storage_key == first.storage_key and len(names(root)) == 1
        for attachment in (first, again):
            await listed(services, attachment)

        # the index key changes: new files are named under the next key at once, and the
        # files named under the old one are read by the key their rows stored
        changing = keys.with_next_index_key()
        using(db, changing)
        services = running(db, root)
        during = await keep(services, "v3")
        await listed(services, during)
        assert during.storage_key != first.storage_key and len(names(root)) == 2
        for attachment in (first, again, during):
            assert await readable(services, attachment.id)

        # keys reindex names them again; stopped between a batch's commit and the deletion
        # of its old files, it deletes them when it resumes
        real = reindex_module.delete_unreferenced
        stops = [True]

        async def stopping(db: Any, store: Any, keys: list[str]) -> int:
            if keys and stops:
                stops.pop()
                raise RuntimeError("stopped")
            return await real(db, store, keys)

        monkeypatch.setattr(reindex_module, "delete_unreferenced", stopping)
        store = cast(SealedStore, attachment_records.store_of(services))
        with pytest.raises(RuntimeError):
            await reindex(db, batch=1, files=store)
        assert await readable(services, first.id) and await readable(services, during.id)
        done = {p.table: p for p in await reindex(db, batch=1, files=store)}
        assert done[FILES].finished and done[FILES].changed == 1
        assert names(root) == [Path(during.storage_key).name]  # one copy: the same content
        # a row read before the rename (a download under way): its file is found all the same
        assert not (root / first.storage_key).exists()
        assert await attachment_records.read(services, first) == PDF
        await forget(db)  # the end of keys reindex: the positions go
        stale = keyed_hash(keys.index_key, "attachment", SHA)
        assert leaks(await raw_rows(db), (stale, SHA)) == {}  # rows and listings renamed
        for attachment in (first, again, during):
            assert await readable(services, attachment.id)
            found = await attachment_records.find(services, attachment.id)
            assert found is not None and found.storage_key == during.storage_key
            (message,) = await db.list_messages(attachment.conversation_id)
            assert message.meta["attachments"][0]["sha256"] == during.sha256
            assert message.meta["attachments"][0]["filename"] == "invoice.pdf"  # still opens

        changed = changing.finish_index_change()  # the end of keys reindex
        using(db, changed)
        services = running(db, root)
        after = await keep(services, "v4")
        assert after.storage_key == during.storage_key and len(names(root)) == 1

        # rotation re-seals the file; erasure deletes it once no row names it
        rotated = changed.with_new_primary()
        using(db, rotated)
        services = running(db, root)
        store = cast(SealedStore, attachment_records.store_of(services))
        assert (await reencrypt_files(db, store)).changed == 1
        await erase(services, "v1", "v2", "v3")
        assert len(names(root)) == 1 and await readable(services, after.id)
        await erase(services, "v4")
        assert names(root) == []
    finally:
        await db.close()


async def old_row(db: SqlDatabase, conversation_id: str) -> None:
    """An attachment row as this release's predecessor stored it: named by the SHA-256."""
    await db.execute(
        "INSERT INTO attachments (id, workspace_id, conversation_id, message_id, source, "
        "filename, content_type, kind, size, sha256, storage_key, created_at) "
        "VALUES ('a-old', 'demo', ?, NULL, 'widget', 'old.pdf', 'application/pdf', "
        "'pdf', ?, ?, ?, ?)",
        conversation_id,
        len(PDF),
        SHA,
        OLD_KEY,
        utcnow(),
    )


@pytest.mark.parametrize("sealed", [True, False])
async def test_files_stored_under_their_sha256_before_keep_working(database_url, tmp_path, sealed):
    keys = new_keyset()
    db = await opened(database_url, keys)
    root = tmp_path / "attachments"
    try:
        services = running(db, root)
        await conversations(db, "v1", "v2")
        # a file this release's predecessor stored: named by its SHA-256, sealed or (from
        # before encryption) in clear
        files = attachment_records.store_of(services)
        await (files if sealed else DirectoryStore(root)).put(OLD_KEY, PDF)
        await old_row(db, "v1")
        assert await readable(services, "a-old")
        new = await keep(services, "v2")  # the same bytes today: under their keyed name
        assert new.storage_key != OLD_KEY and len(names(root)) == 2
        assert await readable(services, new.id) and await readable(services, "a-old")
        store = cast(SealedStore, files)
        assert (await reencrypt_files(db, store)).changed == (0 if sealed else 1)
        assert await readable(services, "a-old")
        await erase(services, "v1")
        assert names(root) == [Path(new.storage_key).name]
        assert await readable(services, new.id)
    finally:
        await db.close()


async def test_keys_reindex_renames_files_stored_under_their_sha256(database_url, tmp_path):
    keys = new_keyset()
    db = await opened(database_url, keys)
    root = tmp_path / "attachments"
    try:
        services = running(db, root)
        await conversations(db, "v1", "v2")
        await DirectoryStore(root).put(OLD_KEY, PDF)  # from before encryption: in clear
        await old_row(db, "v1")
        new = await keep(services, "v2")
        assert len(names(root)) == 2
        using(db, keys.with_next_index_key())
        services = running(db, root)
        store = cast(SealedStore, attachment_records.store_of(services))
        done = {p.table: p for p in await reindex(db, files=store)}
        assert done[FILES].changed == 2  # both, under the next key's name: one file
        (only,) = names(root)
        assert SHA not in only and not (root / "demo").joinpath(only[:2], only).read_bytes(
        ).startswith(b"%PDF")  # fmt: skip
        assert await readable(services, "a-old") and await readable(services, new.id)
        await erase(services, "v1")
        assert len(names(root)) == 1 and await readable(services, new.id)
        await erase(services, "v2")
        assert names(root) == []
    finally:
        await db.close()


async def test_without_a_keyring_files_are_named_by_their_sha256(database_url, tmp_path):
    db = await opened(database_url, None)
    root = tmp_path / "attachments"
    try:
        services = running(db, root)
        await conversations(db, "v1", "v2")
        first, again = await keep(services, "v1"), await keep(services, "v2")
        assert first.storage_key == again.storage_key == f"demo/{SHA[:2]}/{SHA}.pdf"
        assert (root / first.storage_key).read_bytes() == PDF  # in clear: no keys
        await erase(services, "v1")
        assert await readable(services, again.id)
        await erase(services, "v2")
        assert names(root) == []
    finally:
        await db.close()
