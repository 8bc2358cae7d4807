"""Email conversations at rest (issue 14, migration 0039): after a real email conversation
(a mail with an attachment, the reply over SMTP, a follow-up threaded on it, an auto-reply
that is ignored), no table holds the customer's address, name, subject, Message-IDs, words,
file names or the entities found in them in clear, nor does any attachment file, on SQLite
(the database and WAL files too) and on PostgreSQL; the thread index still finds the
conversation; `keys rotate` + `keys reencrypt` seal every row, event and attachment file
with the new key so the old one can go; export and erasure still work; rows and files from
before encryption are sealed and re-keyed by `keys reencrypt`, and `keys reindex` re-keys the
thread index. The mail servers are Debian's dovecot and exim (tests/mailservers.py)."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr

from smartsupport import attachment_records, customer_data, outbox
from smartsupport.attachments.sealed import SealedStore
from smartsupport.channels import email_state
from smartsupport.channels.email_config import email_accounts
from smartsupport.channels.email_poller import MailboxPoller
from smartsupport.domain import Author
from smartsupport.keyring import KeySet, new_keyset
from smartsupport.reindex import reindex
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.reencrypt import (
    PLAIN,
    census,
    files_census,
    reencrypt,
    reencrypt_files,
)
from smartsupport.wiring import assemble
from tests.mailservers import (
    DOMAIN,
    MailServers,
    fetch_mailbox,
    mailservers,  # noqa: F401 - the fixture
    send,
    wait_for_mail,
)
from tests.test_encryption_at_rest import leaks, old_keys_removed, raw_rows

ADDRESS = f"customer@{DOMAIN}"  # the mail servers' customer mailbox
SAYS = "My parcel to Zanzibar never arrived. Write to ada.quokka@example.org please."
PASSPORT = b"%PDF-1.4\n% passport of Ada Lovelace, born 1815\n%%EOF\n"
SECRETS = (ADDRESS, "Lovelace", "Zanzibar", "okapi", "quokka", "passport")


@pytest.fixture
def servers(mailservers: MailServers) -> MailServers:  # noqa: F811
    mailservers.clear()
    return mailservers


def settings_for(
    servers: MailServers, tmp_path: Path, database_url: str, keys: KeySet | None
) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key="k" * 32,
        database_url=database_url,
        email_imap_url=servers.imap_url("support"),
        email_smtp_url=servers.smtp_url("support"),
        email_from="Demo Support <support@example.test>",
        encryption="off" if keys is None else "auto",
        encryption_keys=None if keys is None else SecretStr(keys.to_json()),
    )


def ada_mail(subject: str, text: str, *, message_id: str, **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Ada Lovelace <{ADDRESS}>"
    mail["To"] = f"support@{DOMAIN}"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return mail


async def poll(services: Services) -> list[Any]:
    (account,) = email_accounts(services.settings, services.workspaces.values())
    return await MailboxPoller(services, account).poll_once()


async def deliver_due(services: Services) -> None:
    while await outbox.run_due(services) >= outbox.BATCH:
        pass


async def converse(servers: MailServers, services: Services, *, mails: int = 0) -> str:
    """A mail with an attachment, its reply, a follow-up on the reply and an ignored
    auto-reply; returns the conversation's id."""
    first = ada_mail("Parcel to Zanzibar", SAYS, message_id="<okapi-1815@lovelace.example.test>")
    first.add_attachment(
        PASSPORT, maintype="application", subtype="pdf", filename="passport-lovelace.pdf"
    )
    away = ada_mail(
        "Out of office: Lovelace",
        "Away in Zanzibar",
        message_id="<okapi-away@lovelace.example.test>",
        Auto_Submitted="auto-replied",
    )
    for mail in (first, away):
        await send(servers, mail)
    await wait_for_mail(servers, "support", mails + 2)
    opened, ignored = await poll(services)
    assert opened.conversation_id and ignored.ignored == "auto-submitted: auto-replied"
    await deliver_due(services)
    await wait_for_mail(servers, "customer", 1)
    (reply,) = await fetch_mailbox(servers, "customer")
    assert reply["Subject"] == "Re: Parcel to Zanzibar"
    follow_up = ada_mail(
        "Re: Parcel to Zanzibar",
        "Any news about the okapi parcel?",
        message_id=make_msgid(domain="lovelace.example.test"),
        In_Reply_To=reply["Message-ID"],
        References=f"<okapi-1815@lovelace.example.test> {reply['Message-ID']}",
    )
    await send(servers, follow_up)
    await wait_for_mail(servers, "support", mails + 3)
    (threaded,) = await poll(services)
    assert threaded.conversation_id == opened.conversation_id  # found by the hashed index
    await deliver_due(services)
    return str(opened.conversation_id)


def files_on_disk(tmp_path: Path) -> dict[str, bytes]:
    folder = tmp_path / "attachments"
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def clear_files(tmp_path: Path) -> list[str]:
    return [
        path
        for path, data in files_on_disk(tmp_path).items()
        if any(s.encode().lower() in data.lower() for s in SECRETS)
    ]


async def reads_back(services: Services, conversation_id: str) -> None:
    """Every path that reads what was sealed still reads it."""
    db = cast(SqlDatabase, services.store)
    conversation = await services.store.get_conversation(conversation_id)
    assert conversation is not None
    assert conversation.metadata["email"]["subject"] == "Parcel to Zanzibar"
    assert conversation.metadata["email"]["address"] == ADDRESS
    assert await email_state.seen(db, "demo", "<okapi-1815@lovelace.example.test>") == (
        conversation_id
    )
    messages = await services.store.list_messages(conversation_id)
    first = next(m for m in messages if m.author is Author.CUSTOMER)
    assert "Zanzibar" in first.text
    values = [e["value"] for e in first.meta["nlu"]["entities"]]
    assert "ada.quokka@example.org" in values
    assert first.meta["attachments"][0]["filename"] == "passport-lovelace.pdf"
    (kept,) = await attachment_records.in_conversation(services, conversation_id)
    assert kept.filename == "passport-lovelace.pdf"
    assert await attachment_records.read(services, kept) == PASSPORT
    (ignored,) = await services.store.list_events("demo", type="email.ignored")
    assert ignored.data["from"] == ADDRESS
    assert ignored.data["message_id"] == "<okapi-away@lovelace.example.test>"
    sent = [e for e in await outbox.list_entries(db) if e.kind == "email.send"]
    assert sent and all(e.result and e.result["to"] == ADDRESS for e in sent)


async def test_an_email_conversation_leaves_nothing_in_clear_and_rotation_reseals_it(
    servers, tmp_path, database_url
):
    old = new_keyset()
    services = await assemble(settings_for(servers, tmp_path, database_url, old))
    try:
        conversation_id = await converse(servers, services)
        await services.store.add_event(
            "demo",
            "flow.error",
            {"flow": "track", "error": "no parcel for ada.quokka@example.org"},
            conversation_id=conversation_id,
        )
        db = cast(SqlDatabase, services.store)
        assert leaks(await raw_rows(db), SECRETS) == {}
        assert files_on_disk(tmp_path) and clear_files(tmp_path) == []
        if db.dialect == "sqlite":
            database = Path(database_url.removeprefix("sqlite:///"))
            for path in (database, Path(f"{database}-wal")):
                if path.exists():
                    raw = path.read_bytes()
                    assert not [s for s in SECRETS if s.encode() in raw], path
        await reads_back(services, conversation_id)
        (error,) = await services.store.list_events("demo", type="flow.error")
        assert error.data == {"flow": "track", "error": "no parcel for ada.quokka@example.org"}
    finally:
        await services.close()

    rotated = old.with_new_primary()
    retired = old_keys_removed(rotated)
    services = await assemble(settings_for(servers, tmp_path, database_url, rotated))
    try:
        db = cast(SqlDatabase, services.store)
        files = cast(SealedStore, services.attachments)
        await reencrypt(db, batch=2)
        moved = await reencrypt_files(db, files, batch=1)
        assert moved.changed == 1 and moved.rows == 1
        assert (await reencrypt_files(db, files)).changed == 0  # a rerun skips what is done
        counts = {p.table: dict(p.keys) for p in await census(db)}
        for table in ("messages", "events", "email_threads", "conversations", "attachments"):
            assert set(counts[table]) == {rotated.primary}, (table, counts[table])
        assert dict((await files_census(db, files)).keys) == {rotated.primary: 1}
    finally:
        await services.close()

    services = await assemble(settings_for(servers, tmp_path, database_url, retired))
    try:  # the old key is gone: everything still reads
        await reads_back(services, conversation_id)
        customer = (await services.store.get_conversation(conversation_id)).customer_id  # type: ignore[union-attr]
        exported = json.dumps(
            await customer_data.export_customer(services, customer, actor="test"), default=str
        )
        for secret in ("Lovelace", "Zanzibar", "okapi-1815", "ada.quokka", "passport-lovelace"):
            assert secret in exported
        done = await customer_data.erase_customer(services, customer, actor="test")
        assert done.conversations == 1 and done.events_anonymised >= 1
        db = cast(SqlDatabase, services.store)
        after = await raw_rows(db)
        assert "[]" == after["email_threads"] and "[]" == after["attachments"]
        events = await db.fetch("SELECT data FROM events WHERE type = 'flow.error'")
        assert [e["data"] for e in events] == [{"flow": "track", "anonymised": True}]
        assert files_on_disk(tmp_path) == {}
    finally:
        await services.close()


async def test_rows_and_files_from_before_encryption_are_sealed_and_rekeyed(
    servers, tmp_path, database_url
):
    services = await assemble(settings_for(servers, tmp_path, database_url, None))
    try:  # a deployment without encryption
        conversation_id = await converse(servers, services)
        found = leaks(await raw_rows(cast(SqlDatabase, services.store)), SECRETS)
        assert {"email_threads", "events", "conversations", "attachments"} <= set(found)
        assert clear_files(tmp_path)
    finally:
        await services.close()

    keys = new_keyset()
    services = await assemble(settings_for(servers, tmp_path, database_url, keys))
    try:  # encryption turned on: the old rows are found as they are ...
        db = cast(SqlDatabase, services.store)
        files = cast(SealedStore, services.attachments)
        await reads_back(services, conversation_id)
        await reencrypt(db, batch=1)  # ... and sealed (thread rows re-keyed by their hash)
        assert (await reencrypt_files(db, files)).changed == 1
        assert leaks(await raw_rows(db), SECRETS) == {}
        assert clear_files(tmp_path) == []
        assert all(PLAIN not in p.keys for p in await census(db))
        await reads_back(services, conversation_id)
        assert sum(p.changed for p in await reencrypt(db)) == 0
        hashes = {r["message_hash"] for r in await db.fetch("SELECT * FROM email_threads")}
        assert not any("@" in h for h in hashes)
    finally:
        await services.close()

    changing = keys.with_next_index_key()
    services = await assemble(settings_for(servers, tmp_path, database_url, changing))
    try:  # the index key changes: the thread index is re-keyed by `keys reindex`
        db = cast(SqlDatabase, services.store)
        await reads_back(services, conversation_id)  # found under the current key meanwhile
        threads = await db.fetch("SELECT message_hash FROM email_threads")
        assert len(threads) == 4  # the mail, its reply, the follow-up and its reply
        done = {p.table: p.changed for p in await reindex(db, batch=1)}
        assert done["email_threads"] == len(threads)
    finally:
        await services.close()

    services = await assemble(
        settings_for(servers, tmp_path, database_url, changing.finish_index_change())
    )
    try:
        await reads_back(services, conversation_id)
    finally:
        await services.close()
