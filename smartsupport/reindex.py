"""Re-indexing: every keyed hash (blind index) made again under the keyring's next index key
(``smartsupport keys reindex``, after ``keys rotate-index``; docs/security.md "Changing the
index key").

    customers                    external_id_hash, email_hash
    channel_contacts             address_hash, the row's key: the row is re-keyed and its
                                 sealed address sealed again for its new name; a twin filed
                                 under the new hash meanwhile is folded into one row
    email_threads                message_hash, the row's key: re-keyed and its sealed
                                 Message-ID sealed again for its new name; a twin filed
                                 under the new hash meanwhile is kept, the old row dropped
    analytics_rollup_questions   question, the hash unanswered questions are counted by
    conversation_search          the transcript index (FTS5 on SQLite, tsvectors on
                                 PostgreSQL), rebuilt from the messages (search_index.rebuild)
    attachment files             each file's name in the store (the keyed hash of its
                                 SHA-256, attachment_records.content_name): the file copied
                                 under its new name, the rows and their messages' listings
                                 pointed at it, the old file deleted (``rename_files``)

Why nothing is unfindable meanwhile: once servers hold the next key they make new hashes with
it and every look-up matches both keys' hashes (keyring.Keyring.blinds; a search matches
each word under either key), so a row is found before and after the re-index reaches it.

Batched and resumable: rows are visited in key order, a batch per transaction, and the same
transaction moves the table's position in ``index_rotation`` (migration 0035), so a run
that stops resumes after its last committed batch; a position belongs to one next key
(``keyring.key_check``). Safe while servers run: each batch reads its rows inside its
transaction (on PostgreSQL ``FOR UPDATE``; SQLite has one writer), so a change a server makes
meanwhile is either seen or waits. This module reaches across the store, the search index and
the analytics rollup, so it sits with the commands that run it (tests/test_layers.py).

Files are renamed outside the rows' order: the store is not the database. A batch of stored
keys is copied under the new names first (a copy under a name that exists is the same
content: it is kept), then one transaction points every row naming an old key at the new
one, fixes the listing in its message's meta and records the position together with the
batch's old keys, which are deleted after the commit unless a row still names them (a run
that stops before deleting them deletes them when it resumes). A new file no row names once
the transaction is done (its rows erased meanwhile) is deleted the same way. A server that
read a row just before its rename and asks for the old file after the deletion reads the row
again (attachment_records.read).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from smartsupport.analytics_rollup import question_hash
from smartsupport.attachment_records import content_name, delete_unreferenced, storage_key
from smartsupport.attachments.sealed import SealedStore
from smartsupport.domain import utcnow
from smartsupport.errors import ConfigurationError, NotFound
from smartsupport.inbox import search_index
from smartsupport.keyring import Keyring, key_check
from smartsupport.storage.base import SqlDatabase, SqlExecutor
from smartsupport.storage.fields import is_sealed, row_key
from smartsupport.storage.reencrypt import file_keys

BATCH = 200  # rows per transaction: short enough not to hold SQLite's writer for long
CONTACTS = "channel_contacts"
THREADS = "email_threads"
FILES = "attachment files"  # the Progress.table of the files renamed
EARLIEST = datetime.min.replace(tzinfo=UTC)

Apply = Callable[[SqlExecutor, str, list[dict[str, Any]]], Awaitable[int]]


@dataclass
class Progress:
    table: str
    visited: int = 0
    changed: int = 0
    last: tuple[Any, ...] = ()  # the key columns' values of the last row done
    finished: bool = False


def next_key_check(db: SqlDatabase) -> str:
    """The name of the next index key; ConfigurationError when the index key is not being
    changed (there is nothing to re-index to)."""
    keyring: Keyring | None = db.fields.keyring
    if keyring is None:
        raise ConfigurationError(
            "Encryption is off (SMARTSUPPORT_ENCRYPTION=off): there are no keyed hashes to "
            "re-index. Configure a keyring first (docs/security.md)."
        )
    keys = keyring.index_keys()
    if len(keys) < 2:
        raise ConfigurationError(
            f"The keyring of {keyring.source.description} has no next_index_key: run "
            "`smartsupport keys rotate-index` first (docs/security.md)."
        )
    return key_check(keys[0])


async def reindex(
    db: SqlDatabase,
    *,
    batch: int = BATCH,
    report: Callable[[Progress], None] = lambda progress: None,
    files: SealedStore | None = None,
) -> list[Progress]:
    """Make every keyed hash again under the next index key, resuming where an earlier run
    for the same key stopped, and name the attachment ``files`` again when given; ``report``
    is called after each batch."""
    check = next_key_check(db)
    saved = {p.table: p for p in await progress(db, check)}
    done = []
    for table, (order, columns, apply) in STEPS.items():
        state = saved.get(table) or Progress(table)
        while not state.finished:
            async with db.transaction() as tx:
                rows = await _batch(tx, db.dialect, table, order, columns, state.last, batch)
                changed = await apply(tx, db.dialect, rows) if rows else 0
                state.visited += len(rows)
                state.changed += changed
                state.last = tuple(rows[-1][c] for c in order) if rows else state.last
                state.finished = len(rows) < batch
                await _save(tx, check, state)
            report(state)
        done.append(state)
    await search_index.compact(db)  # the old terms out of SQLite's FTS5 segments too
    if files is not None:
        done.append(await rename_files(db, files, batch=batch, report=report))
    return done


async def rename_files(
    db: SqlDatabase,
    files: SealedStore,
    *,
    batch: int = BATCH,
    report: Callable[[Progress], None] = lambda progress: None,
) -> Progress:
    """Name every attachment file the ``attachments`` rows name again under the next index
    key, in key order, resumable (the module's docstring). The position is the last key
    visited followed by the old keys of the last batch, still to be deleted."""
    check = next_key_check(db)
    state = {p.table: p for p in await progress(db, check)}.get(FILES) or Progress(FILES)
    await delete_unreferenced(db, files, list(state.last[1:]))  # a run stopped after a commit
    while not state.finished:
        keys = await file_keys(db, state.last[:1], batch)
        renamed: dict[str, tuple[str, str]] = {}  # old key -> (new key, name)
        for old in keys:
            if copied := await _copy(db, files, old):
                renamed[old] = copied
        async with db.transaction() as tx:
            for old, (new, name) in renamed.items():
                state.changed += await _rename(tx, db.dialect, old, new, name)
            state.visited += len(keys)
            state.finished = len(keys) < batch
            state.last = (*(keys[-1:] or state.last[:1]), *renamed)
            await _save(tx, check, state)
        created = [new for new, _ in renamed.values()]
        await delete_unreferenced(db, files, [*renamed, *created])
        report(state)
    return state


async def _copy(db: SqlDatabase, files: SealedStore, old: str) -> tuple[str, str] | None:
    """The file under ``old`` copied under its name for the next key: (new key, name); None
    when it already has that name, or is gone (erased meanwhile)."""
    try:
        data = await files.get(old)
    except NotFound:
        return None
    name = content_name(db, data)
    workspace_id, _, rest = old.partition("/")
    new = storage_key(workspace_id, name, PurePosixPath(rest).suffix)
    if new == old:
        return None
    await files.put(new, data)  # a file already there has the same content: kept
    return new, name


async def _rename(tx: SqlExecutor, dialect: str, old: str, new: str, name: str) -> int:
    """Point the rows naming ``old`` and their messages' listings at ``new``; 1 when any."""
    lock = " FOR UPDATE" if dialect == "postgresql" else ""
    rows = await tx.fetch(
        f"SELECT id, message_id FROM attachments WHERE storage_key = ?{lock}", old
    )
    if not rows:
        return 0
    await tx.execute(
        "UPDATE attachments SET storage_key = ?, sha256 = ? WHERE storage_key = ?", new, name, old
    )
    listed: dict[str, set[str]] = {}
    for row in rows:
        if row["message_id"]:
            listed.setdefault(row["message_id"], set()).add(row["id"])
    for message_id, ids in sorted(listed.items()):
        message = await tx.fetchrow(f"SELECT meta FROM messages WHERE id = ?{lock}", message_id)
        items = (message["meta"] or {}).get("attachments") if message else None
        if not isinstance(items, list):
            continue
        # (the listing's sealed file name is bound to the message, not to the key: kept)
        fixed = [
            {**item, "sha256": name} if isinstance(item, dict) and item.get("id") in ids else item
            for item in items
        ]
        if fixed != items:
            meta = {**message["meta"], "attachments": fixed}  # type: ignore[index]
            await tx.execute("UPDATE messages SET meta = ? WHERE id = ?", meta, message_id)
    return 1


async def progress(db: SqlExecutor, check: str) -> list[Progress]:
    """What runs for the next key ``check`` have done so far, per table."""
    rows = await db.fetch("SELECT * FROM index_rotation WHERE key_check = ?", check)
    return [
        Progress(
            r["name"],
            r["visited"],
            r["changed"],
            tuple(r["position"]),
            r["finished_at"] is not None,
        )
        for r in rows
    ]


async def forget(db: SqlExecutor) -> None:
    """Drop every position (the change finished: the next key is the index key now)."""
    await db.execute("DELETE FROM index_rotation")


async def _save(tx: SqlExecutor, check: str, state: Progress) -> None:
    now = utcnow()
    await tx.execute(
        "INSERT INTO index_rotation (name, key_check, position, visited, changed, finished_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
        "key_check = excluded.key_check, position = excluded.position, visited = "
        "excluded.visited, changed = excluded.changed, finished_at = excluded.finished_at, "
        "updated_at = excluded.updated_at",
        state.table,
        check,
        list(state.last),
        state.visited,
        state.changed,
        now if state.finished else None,
        now,
    )


async def _batch(
    tx: SqlExecutor,
    dialect: str,
    table: str,
    order: tuple[str, ...],
    columns: tuple[str, ...],
    after: tuple[Any, ...],
    limit: int,
) -> list[dict[str, Any]]:
    """The next rows after ``after`` in key order (the first ones when it is empty)."""
    wanted = ", ".join(dict.fromkeys([*order, *columns]))
    keys = ", ".join(order)
    where = f"WHERE ({keys}) > ({', '.join('?' for _ in order)}) " if after else ""
    lock = " FOR UPDATE" if dialect == "postgresql" else ""
    return await tx.fetch(
        f"SELECT {wanted} FROM {table} {where}ORDER BY {keys} LIMIT ?{lock}", *after, limit
    )


async def _customers(tx: SqlExecutor, dialect: str, rows: list[dict[str, Any]]) -> int:
    """Each stored hash made again from the sealed value; rows from before encryption (no
    hash yet) are left to ``keys reencrypt``, which fills them."""
    changed = 0
    for row in rows:
        opened = tx.fields.open_row("customers", row)
        changes = {
            column: fresh
            for column, kind in (("external_id_hash", "external_id"), ("email_hash", "email"))
            if row[column] is not None
            and (fresh := tx.fields.lookup(kind, opened[kind])) != row[column]
        }
        if changes:
            assignments = ", ".join(f"{column} = ?" for column in changes)
            await tx.execute(
                f"UPDATE customers SET {assignments} WHERE id = ?", *changes.values(), row["id"]
            )
            changed += 1
    return changed


async def _contacts(tx: SqlExecutor, dialect: str, rows: list[dict[str, Any]]) -> int:
    """Each sealed contact re-keyed by its address's new hash. Rows keyed by their clear
    address (from before encryption) are ``keys reencrypt``'s."""
    changed = 0
    names = ("workspace_id", "channel", "address_hash")
    for row in rows:
        if not is_sealed(row["address"]):
            continue
        address = tx.fields.open(CONTACTS, "address", row_key(row, names), row["address"])
        fresh = tx.fields.lookup("address", address)
        if fresh is None or fresh == row["address_hash"]:
            continue
        where = "workspace_id = ? AND channel = ? AND address_hash = ?"
        lock = " FOR UPDATE" if dialect == "postgresql" else ""
        twin = await tx.fetchrow(
            f"SELECT consent, consent_at, last_inbound_at FROM {CONTACTS} WHERE {where}{lock}",
            row["workspace_id"],
            row["channel"],
            fresh,
        )
        if twin is None:
            sealed = tx.fields.seal(
                CONTACTS, "address", row_key({**row, "address_hash": fresh}, names), address
            )
            await tx.execute(
                f"UPDATE {CONTACTS} SET address_hash = ?, address = ? WHERE {where}",
                fresh,
                sealed,
                *(row[n] for n in names),
            )
        else:
            await _fold(tx, row, twin, fresh)
        changed += 1
    return changed


async def _threads(tx: SqlExecutor, dialect: str, rows: list[dict[str, Any]]) -> int:
    """Each sealed Message-ID re-keyed by its new hash. Rows keyed by their clear
    Message-ID (from before encryption) are ``keys reencrypt``'s."""
    changed = 0
    names = ("workspace_id", "message_hash")
    where = "workspace_id = ? AND message_hash = ?"
    for row in rows:
        if not is_sealed(row["message_id"]):
            continue
        message_id = tx.fields.open(THREADS, "message_id", row_key(row, names), row["message_id"])
        fresh = tx.fields.lookup("message_id", message_id)
        if fresh is None or fresh == row["message_hash"]:
            continue
        twin = await tx.fetchrow(
            f"SELECT 1 AS one FROM {THREADS} WHERE {where}", row["workspace_id"], fresh
        )
        if twin is None:
            sealed = tx.fields.seal(
                THREADS, "message_id", row_key({**row, "message_hash": fresh}, names), message_id
            )
            await tx.execute(
                f"UPDATE {THREADS} SET message_hash = ?, message_id = ? WHERE {where}",
                fresh,
                sealed,
                row["workspace_id"],
                row["message_hash"],
            )
        else:  # the same mail filed again under the new hash (a race): one row is enough
            await tx.execute(
                f"DELETE FROM {THREADS} WHERE {where}", row["workspace_id"], row["message_hash"]
            )
        changed += 1
    return changed


async def _fold(tx: SqlExecutor, row: dict[str, Any], twin: dict[str, Any], fresh: str) -> None:
    """A server filed the address again under the new hash before the re-index reached its
    old row (a race; look-ups prefer the new row, so its conversation is the live one): keep
    that row, with the later consent decision (a STOP is never lost) and the later inbound
    time, and delete the old one."""
    consent = row if _at(row["consent_at"]) > _at(twin["consent_at"]) else twin
    inbound = max(_at(row["last_inbound_at"]), _at(twin["last_inbound_at"]))
    where = "workspace_id = ? AND channel = ? AND address_hash = ?"
    await tx.execute(
        f"UPDATE {CONTACTS} SET consent = ?, consent_at = ?, last_inbound_at = ?, "
        f"updated_at = ? WHERE {where}",
        consent["consent"],
        consent["consent_at"],
        None if inbound == EARLIEST else inbound,
        utcnow(),
        row["workspace_id"],
        row["channel"],
        fresh,
    )
    await tx.execute(
        f"DELETE FROM {CONTACTS} WHERE {where}",
        row["workspace_id"],
        row["channel"],
        row["address_hash"],
    )


def _at(moment: datetime | None) -> datetime:
    return EARLIEST if moment is None else moment


async def _questions(tx: SqlExecutor, dialect: str, rows: list[dict[str, Any]]) -> int:
    """Each unanswered question's hash made again from its message. A question whose
    message is gone (erased) keeps its old hash: it is counted, never looked up."""
    ids = sorted({r["message_id"] for r in rows})
    found = await tx.fetch(
        f"SELECT id, text FROM messages WHERE id IN ({', '.join('?' for _ in ids)})", *ids
    )
    texts = {m["id"]: tx.fields.open("messages", "text", m["id"], m["text"]) for m in found}
    changed = 0
    for row in rows:
        text = texts.get(row["message_id"])
        if text is None or (fresh := question_hash(tx.fields, text)) == row["question"]:
            continue
        await tx.execute(
            "UPDATE analytics_rollup_questions SET question = ? "
            "WHERE conversation_id = ? AND turn = ?",
            fresh,
            row["conversation_id"],
            row["turn"],
        )
        changed += 1
    return changed


async def _transcripts(tx: SqlExecutor, dialect: str, rows: list[dict[str, Any]]) -> int:
    blind = tx.fields.search_blind()
    return await search_index.rebuild(tx, dialect, [r["conversation_id"] for r in rows], blind)


# table -> (the key columns visited in order, the other columns read, what a batch does)
STEPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], Apply]] = {
    "customers": (("id",), ("external_id", "email", "external_id_hash", "email_hash"), _customers),
    CONTACTS: (
        ("workspace_id", "channel", "address_hash"),
        ("address", "consent", "consent_at", "last_inbound_at"),
        _contacts,
    ),
    THREADS: (("workspace_id", "message_hash"), ("message_id",), _threads),
    "analytics_rollup_questions": (
        ("conversation_id", "turn"),
        ("question", "message_id"),
        _questions,
    ),
    "conversation_search": (("conversation_id",), (), _transcripts),
}
