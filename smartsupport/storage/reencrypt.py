"""Re-encryption: every sealed column brought under the keyring's primary key, and rows from
before encryption sealed (``smartsupport keys reencrypt``; docs/security.md).

Batched and resumable: rows are visited in the order of the columns that name them, a batch
per transaction, and a value already sealed with the primary key is left alone (read, never
written), so an interrupted run is simply started again. Safe while servers run: each batch
reads its rows inside its transaction (on PostgreSQL ``FOR UPDATE``; SQLite has one
writer), so a change a server makes meanwhile is either seen or waits. Servers reading a
file keyring pick up a key they do not know yet on their own (keyring.Keyring); servers
given SMARTSUPPORT_ENCRYPTION_KEYS must be restarted with the new keyring first.

``census`` counts the values per key id (and those still in clear) without writing: when a
key has no values left, it may be removed from the keyring.

Attachments' files (attachments/sealed.py) are re-sealed by ``reencrypt_files``: every
stored key the ``attachments`` rows name, in key order, a file already under the primary
key left alone (so a rerun skips what is done); ``files_census`` counts them per key id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartsupport.attachments.sealed import SealedStore
from smartsupport.errors import ConfigurationError, NotFound
from smartsupport.storage.base import SqlDatabase, SqlExecutor
from smartsupport.storage.fields import (
    META_DELIVERY_ERROR,
    META_ENTITIES,
    META_FILENAME,
    META_NAMES,
    SEALED,
    SEALED_METADATA,
    FieldCipher,
    event_keys,
    row_key,
    sealed_key_id,
)

PLAIN = "(clear)"  # the census's name for values stored without encryption
BATCH = 200  # rows per transaction: short enough not to hold SQLite's writer for long
# Every table visited: the sealed columns, the conversations whose metadata holds a sealed
# key (SEALED_METADATA: the contact form's details, the email thread) and the events whose
# data does (fields.SEALED_EVENT_KEYS).
TABLES = {
    **SEALED,
    # the text, parts of meta (sealed_meta), and a mail's client id from before encryption
    "messages": (("id",), ("text", "meta", "client_id")),
    "conversations": (("id",), ("metadata",)),
    "events": (("id",), ("workspace_id", "conversation_id", "type", "data")),
    "review_suggestions": (("id",), ("name", "answer", "examples")),
}
# how a message from a mail read before encryption names it: "email:<Message-ID>" (since,
# "email:" and the Message-ID's keyed hash: channels/email_state.client_id)
MAIL_CLIENT_ID = "email:<"
# tables whose rows are named by a keyed hash: a row from before encryption, named by its
# clear value, is re-keyed by the hash (table -> (hash column, sealed column, look-up kind))
REKEYED = {
    "channel_contacts": ("address_hash", "address", "address"),
    "email_threads": ("message_hash", "message_id", "message_id"),
}


@dataclass
class Progress:
    table: str
    rows: int = 0
    changed: int = 0
    last: tuple[Any, ...] = ()  # the key columns' values of the last row visited
    keys: Counter[str] = field(default_factory=Counter)


async def reencrypt(
    db: SqlDatabase,
    *,
    batch: int = BATCH,
    tables: tuple[str, ...] = tuple(TABLES),
    report: Callable[[Progress], None] = lambda progress: None,
) -> list[Progress]:
    """Seal every value of ``tables`` with the primary key (and fill customers' keyed
    hashes); ``report`` is called after each batch."""
    if not db.fields.enabled:
        raise ConfigurationError(
            "Encryption is off (SMARTSUPPORT_ENCRYPTION=off): there is no key to re-encrypt "
            "with. Configure a keyring first (docs/security.md)."
        )
    done = []
    for table in tables:
        progress = Progress(table)
        while True:
            async with db.transaction() as tx:
                rows = await _batch(tx, db.dialect, table, progress.last, batch)
                for row in rows:
                    progress.changed += await _refresh(tx, table, row)
            if not rows:
                break
            progress.rows += len(rows)
            progress.last = _position(table, rows[-1])
            report(progress)
        done.append(progress)
    return done


async def census(db: SqlDatabase, *, batch: int = 1000) -> list[Progress]:
    """How many stored values each key id sealed, per table (``PLAIN``: still in clear)."""
    done = []
    for table in TABLES:
        progress = Progress(table)
        while rows := await _batch(db, db.dialect, table, progress.last, batch):
            for row in rows:
                for value in _values(table, row).values():
                    progress.keys[_key_of(value)] += 1
            progress.rows += len(rows)
            progress.last = _position(table, rows[-1])
        done.append(progress)
    return done


async def _batch(
    db: SqlExecutor, dialect: str, table: str, after: tuple[str, ...], limit: int
) -> list[dict[str, Any]]:
    """The next rows after ``after`` in key order (the first ones when it is empty)."""
    names, columns = TABLES[table]
    wanted = ", ".join(dict.fromkeys([*names, *columns]))
    order = ", ".join(names)
    where = f"WHERE ({order}) > ({', '.join('?' for _ in names)}) " if after else ""
    lock = " FOR UPDATE" if dialect == "postgresql" else ""
    return await db.fetch(
        f"SELECT {wanted} FROM {table} {where}ORDER BY {order} LIMIT ?{lock}", *after, limit
    )


def _position(table: str, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(row[name] for name in TABLES[table][0])


def _values(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The sealed (or to be sealed) values of a row, by column (by metadata key for a
    conversation); None values are left out."""
    if table == "conversations":
        found = {key: (row["metadata"] or {}).get(key) for key in SEALED_METADATA}
    elif table == "messages":
        meta = row["meta"] or {}
        nlu = meta.get("nlu")
        found = {"text": row["text"]}
        if (row["client_id"] or "").startswith(MAIL_CLIENT_ID):
            found["client_id"] = row["client_id"]  # "email:<Message-ID>": in clear
        if isinstance(nlu, dict) and nlu.get("entities"):
            found[META_ENTITIES] = nlu["entities"]
        files = meta.get("attachments")
        for i, item in enumerate(files if isinstance(files, list) else []):
            if isinstance(item, dict) and item.get("filename"):
                found[f"{META_FILENAME}.{i}"] = item["filename"]
        # (the same parts FieldCipher._meta seals, so a rerun finds nothing left to do)
        for key in META_NAMES:
            if isinstance(meta.get(key), str) and meta[key]:
                found[f"meta.{key}"] = meta[key]
        delivery = meta.get("delivery")
        if isinstance(delivery, dict) and isinstance(delivery.get("error"), str):
            found[META_DELIVERY_ERROR] = delivery["error"]
    elif table == "review_suggestions":
        found = {c: row[c] for c in ("name", "answer")}
        found["examples"] = (row["examples"] or {}).get("text")
    elif table == "events":
        data = row["data"] or {}
        found = {key: data[key] for key in event_keys(row["type"]) if key in data}
    else:
        found = {column: row[column] for column in SEALED[table][1]}
    return {name: value for name, value in found.items() if value is not None}


async def _refresh(tx: SqlExecutor, table: str, row: dict[str, Any]) -> int:
    """Re-seal one row's values not sealed with the primary key; 1 when it changed."""
    fields: FieldCipher = tx.fields
    assert fields.keyring is not None
    primary = fields.keyring.primary
    stale = [c for c, value in _values(table, row).items() if _key_of(value) != primary]
    if not stale:
        return 0
    if table == "conversations":
        metadata = row["metadata"]
        opened_keys = fields.open_metadata(row["id"], {c: metadata[c] for c in stale})
        sealed = {**metadata, **fields.sealed_metadata(row["id"], opened_keys)}
        await tx.execute("UPDATE conversations SET metadata = ? WHERE id = ?", sealed, row["id"])
        return 1
    if table == "messages":
        text = fields.open("messages", "text", row["id"], row["text"])
        meta = fields.opened_meta(row["id"], row["meta"] or {})
        client_id = row["client_id"]
        if (client_id or "").startswith(MAIL_CLIENT_ID):  # the Message-ID's keyed hash instead
            message_id = client_id.removeprefix(MAIL_CLIENT_ID[:-1])
            client_id = f"{MAIL_CLIENT_ID[:-1]}{fields.lookup('message_id', message_id)}"
        await tx.execute(
            "UPDATE messages SET text = ?, meta = ?, client_id = ? WHERE id = ?",
            fields.seal("messages", "text", row["id"], text),
            fields.sealed_meta(row["id"], meta),
            client_id,
            row["id"],
        )
        return 1
    if table == "events":
        place = (row["workspace_id"], row["conversation_id"], row["type"])
        data = row["data"]
        opened_data = fields.opened_event(*place, {c: data[c] for c in stale})
        sealed = {**data, **fields.sealed_event(*place, opened_data)}
        await tx.execute("UPDATE events SET data = ? WHERE id = ?", sealed, row["id"])
        return 1
    if table == "review_suggestions":  # (examples: a sealed text inside {"text": ...})
        sealed = {
            c: fields.seal(table, c, row["id"], fields.open(table, c, row["id"], value))
            for c, value in _values(table, row).items()
        }
        if "examples" in sealed:
            sealed["examples"] = {**row["examples"], "text": sealed["examples"]}
        assignments = ", ".join(f"{column} = ?" for column in sealed)
        await tx.execute(
            f"UPDATE {table} SET {assignments} WHERE id = ?", *sealed.values(), row["id"]
        )
        return 1
    names = SEALED[table][0]
    opened = fields.open_row(table, row)
    changes: dict[str, Any] = {}
    if table in REKEYED:
        # a row from before encryption is named by its clear value (an address, a
        # Message-ID): named by its keyed hash from now on (the sealed value is bound to it)
        hashed, column, kind = REKEYED[table]
        changes[hashed] = fields.lookup(kind, opened[column])
        if changes[hashed] != row[hashed] and await _twin(tx, table, {**row, **changes}):
            # filed again under the hash meanwhile (a race): that row is the live one
            await _delete(tx, table, row)
            return 1
    key = row_key({**row, **changes}, names)
    changes.update({c: fields.seal(table, c, key, opened[c]) for c in stale})
    if table == "customers":
        changes["external_id_hash"] = fields.lookup("external_id", opened["external_id"])
        changes["email_hash"] = fields.lookup("email", opened["email"])
    assignments = ", ".join(f"{column} = ?" for column in changes)
    match = " AND ".join(f"{name} = ?" for name in names)
    values = [row[name] for name in names]
    await tx.execute(f"UPDATE {table} SET {assignments} WHERE {match}", *changes.values(), *values)
    return 1


async def _twin(tx: SqlExecutor, table: str, row: dict[str, Any]) -> bool:
    names = SEALED[table][0]
    match = " AND ".join(f"{name} = ?" for name in names)
    found = await tx.fetchrow(
        f"SELECT 1 AS one FROM {table} WHERE {match}", *(row[n] for n in names)
    )
    return found is not None


async def _delete(tx: SqlExecutor, table: str, row: dict[str, Any]) -> None:
    names = SEALED[table][0]
    match = " AND ".join(f"{name} = ?" for name in names)
    await tx.execute(f"DELETE FROM {table} WHERE {match}", *(row[n] for n in names))


def _key_of(value: Any) -> str:
    return sealed_key_id(value) or PLAIN


# -- attachments' files --------------------------------------------------------------------
FILES = "attachment files"  # the Progress.table of files


async def reencrypt_files(
    db: SqlDatabase,
    files: SealedStore,
    *,
    batch: int = BATCH,
    report: Callable[[Progress], None] = lambda progress: None,
) -> Progress:
    """Seal every attachment file the ``attachments`` rows name with the primary key (files
    from before encryption included); ``report`` is called after each batch."""
    progress = Progress(FILES)
    while keys := await file_keys(db, progress.last, batch):
        for key in keys:
            if await files.reseal(key):
                progress.changed += 1
                await _unless_erased(db, files, key)
        progress.rows += len(keys)
        progress.last = (keys[-1],)
        report(progress)
    return progress


async def files_census(db: SqlDatabase, files: SealedStore, *, batch: int = 1000) -> Progress:
    """How many attachment files each key id sealed (``PLAIN``: still in clear)."""
    progress = Progress(FILES)
    while keys := await file_keys(db, progress.last, batch):
        for key in keys:
            try:
                progress.keys[await files.sealed_with(key) or PLAIN] += 1
            except NotFound:
                progress.keys["(missing)"] += 1
        progress.rows += len(keys)
        progress.last = (keys[-1],)
    return progress


async def file_keys(db: SqlExecutor, after: tuple[str, ...], limit: int) -> list[str]:
    """The next stored keys after ``after`` (one file per content hash, named by many rows)."""
    where = "WHERE storage_key > ? " if after else ""
    rows = await db.fetch(
        f"SELECT DISTINCT storage_key FROM attachments {where}ORDER BY storage_key LIMIT ?",
        *after,
        limit,
    )
    return [str(r["storage_key"]) for r in rows]


async def _unless_erased(db: SqlExecutor, files: SealedStore, key: str) -> None:
    """An erasure that removed the file's last row while it was being rewritten deleted the
    file before the rewrite put it back: delete it again (customer_data.delete_files)."""
    still = await db.fetchrow("SELECT 1 AS one FROM attachments WHERE storage_key = ?", key)
    if still is None:
        await files.delete(key)
