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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartsupport.errors import ConfigurationError
from smartsupport.storage.base import SqlDatabase, SqlExecutor
from smartsupport.storage.fields import (
    SEALED,
    SEALED_METADATA,
    FieldCipher,
    row_key,
    sealed_key_id,
)

PLAIN = "(clear)"  # the census's name for values stored without encryption
BATCH = 200  # rows per transaction: short enough not to hold SQLite's writer for long
# Every table visited: the sealed columns, and the conversations whose metadata holds a
# sealed key (SEALED_METADATA: the contact form's details).
TABLES = {**SEALED, "conversations": (("id",), ("metadata",))}


@dataclass
class Progress:
    table: str
    rows: int = 0
    changed: int = 0
    last: tuple[str, ...] = ()  # the key columns' values of the last row visited
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
    names = SEALED[table][0]
    opened = fields.open_row(table, row)
    changes: dict[str, Any] = {}
    if table == "channel_contacts":
        # a contact from before encryption is named by its clear address: named by its keyed
        # hash from now on (the sealed address is bound to the new name)
        changes["address_hash"] = fields.lookup("address", opened["address"])
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


def _key_of(value: Any) -> str:
    return sealed_key_id(value) or PLAIN
