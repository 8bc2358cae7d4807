"""The full-text index of transcripts: a catch-up indexer (migration 0024).

    catch_up(store)   conversations changed since the mark (``conversations.updated_at``):
                      their messages after ``indexed_seq`` become terms
                      (``search_terms.index_terms``) appended to the conversation's entry,
                      the customer's intents are noted, and the customer's name, email and id
                      (and the contact form's email) become its ``people`` terms
    rebuild(tx, ...)  conversations' entries made again, whole (``keys reindex``: every
                      term under the next index key); ``compact`` then merges SQLite's index

SQLite keeps the terms in an FTS5 table (``conversation_fts``), PostgreSQL in tsvectors
('simple' configuration, positions stripped). Both store only what ``search_terms`` makes of
the text: with field encryption on, ``blind`` turns every term into a keyed hash.

The indexer follows the conversations table instead of hooking every writer, so the
conversation path, agents and webhooks stay as they are; the worker runs it every few seconds
and a search runs it first, so what was just said is findable. The mark trails the newest
change by ``LAG`` so a transaction that committed late with an earlier time is not skipped;
re-reading that window costs one comparison per conversation (``indexed_seq``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from smartsupport.domain import Author
from smartsupport.keyring import keyed_hash
from smartsupport.pacing import Pace, rest
from smartsupport.search_terms import index_terms
from smartsupport.storage.base import SqlDatabase, SqlExecutor, Store

Blind = Callable[[str], str]

MARK = "transcripts"
LAG = timedelta(seconds=5)
BATCH = 50  # conversations per round: one round holds SQLite's one connection for ~30 ms
PACED_BATCH = 10  # the worker's rounds: a few ms each on the event loop (pacing.py)
INLINE = PACED_BATCH  # conversations indexed on the event loop; more go to a thread
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def catch_up(
    store: Store, *, blind: Blind | None = None, batch: int = BATCH, pace: Pace | None = None
) -> int:
    """Index what changed since the last run; returns how many conversations were indexed.
    Runs until nothing is left (``batch`` conversations per round, one transaction each;
    the worker's runs rest between rounds, ``pace``)."""
    db = _sql(store)
    total = 0
    while True:
        await rest(pace)
        row = await db.fetchrow("SELECT mark FROM search_progress WHERE name = ?", MARK)
        mark = row["mark"] if row else EPOCH
        rows = await db.fetch(
            "SELECT c.id, c.workspace_id, c.customer_id, c.last_seq, c.metadata, c.updated_at, "
            "s.indexed_seq, s.intents FROM conversations c "
            "LEFT JOIN conversation_search s ON s.conversation_id = c.id "
            "WHERE c.updated_at >= ? ORDER BY c.updated_at, c.id LIMIT ?",
            mark,
            batch,
        )
        changed = [r for r in rows if r["last_seq"] > (r["indexed_seq"] or 0)]
        if changed:
            total += await _index(db, changed, blind)
        newest = rows[-1]["updated_at"] if rows else mark
        # A full batch whose times all sit in the trailing window would never move the mark.
        advanced = max(mark, newest - LAG) if len(rows) < batch else max(mark, newest)
        await _set_mark(db, advanced)
        if len(rows) < batch or advanced == mark:
            return total


async def _index(db: SqlDatabase, rows: list[dict[str, Any]], blind: Blind | None) -> int:
    """Index a batch of changed conversations in one transaction; how many were written."""
    ids = [r["id"] for r in rows]
    marks = ", ".join("?" for _ in ids)
    # Read the way the stores do (storage/fields.py opens sealed text), in one query each;
    # only the messages after what each entry holds (a long conversation is not read whole
    # again for every new message).
    found = await db.fetch(
        "SELECT m.id, m.conversation_id, m.seq, m.author, m.text, m.meta FROM messages m "
        "LEFT JOIN conversation_search s ON s.conversation_id = m.conversation_id "
        f"WHERE m.conversation_id IN ({marks}) AND m.seq > COALESCE(s.indexed_seq, 0) "
        "ORDER BY m.conversation_id, m.seq",
        *ids,
    )
    customers = await db.fetch(
        "SELECT id, name, email, external_id FROM customers WHERE id IN "
        f"({', '.join('?' for _ in rows)})",
        *[r["customer_id"] for r in rows],
    )
    # Opening sealed texts and hashing each term costs about half a millisecond a
    # conversation: a paced round's few on the event loop; hundreds (an agent's search after
    # a busy minute) in a thread, so the loop keeps its turn every few ms instead of waiting
    # half a second (docs/benchmarks.md, "Both cores" and "Stop 29").
    if len(rows) <= INLINE:
        batch = _entries(db, rows, found, customers, blind)
    else:
        batch = await asyncio.to_thread(_entries, db, rows, found, customers, blind)
    if db.dialect == "postgresql":
        if batch:
            await _write_postgresql(db, batch)
        return len(batch)
    if not batch:
        return 0
    async with db.transaction() as tx:  # SQLite: one writer, so this check cannot race
        return await _write_sqlite(tx, batch)


def _entries(
    db: SqlDatabase,
    rows: list[dict[str, Any]],
    found: list[dict[str, Any]],
    customers: list[dict[str, Any]],
    blind: Blind | None,
) -> list[dict[str, Any]]:
    """The index rows of the conversations that have new messages."""
    people = {c["id"]: _names(db, c) for c in customers}
    messages: dict[str, list[dict[str, Any]]] = {}
    for m in found:
        messages.setdefault(m["conversation_id"], []).append(m)
    batch: list[dict[str, Any]] = []
    for row in rows:
        new = [m for m in messages.get(row["id"], []) if m["seq"] > (row["indexed_seq"] or 0)]
        if not new:
            continue
        texts = (db.fields.open("messages", "text", m["id"], m["text"]) for m in new)
        intents = set((row["intents"] or " ").split()) | _intents(new)
        names = people.get(row["customer_id"], []) + _contact(db, row)
        batch.append(
            {
                "conversation_id": row["id"],
                "workspace_id": row["workspace_id"],
                "indexed_seq": new[-1]["seq"],
                "intents": f" {' '.join(sorted(intents))} " if intents else " ",
                "terms": " ".join(t for t in (index_terms(x or "", blind) for x in texts) if t),
                "people": index_terms(" ".join(names), blind),
                "now": datetime.now(UTC),
            }
        )
    return batch


def _intents(messages: list[dict[str, Any]]) -> set[str]:
    found = set()
    for message in messages:
        meta = message["meta"] if isinstance(message["meta"], dict) else {}
        nlu = meta.get("nlu") if message["author"] == Author.CUSTOMER.value else None
        intent = nlu.get("intent") if isinstance(nlu, dict) else None
        if isinstance(intent, str) and intent and " " not in intent:
            found.add(intent)
    return found


def _names(db: SqlExecutor, customer: dict[str, Any]) -> list[str]:
    opened = (
        db.fields.open("customers", column, customer["id"], customer[column])
        for column in ("name", "email", "external_id")
    )
    return [value for value in opened if isinstance(value, str)]


def _contact(db: SqlExecutor, row: dict[str, Any]) -> list[str]:
    metadata = db.fields.open_metadata(row["id"], row["metadata"] or {})  # contact is sealed
    contact = metadata.get("contact")
    if not isinstance(contact, dict):
        return []
    return [v for v in (contact.get("email"), contact.get("name")) if isinstance(v, str)]


async def rebuild(
    tx: SqlExecutor, dialect: str, conversation_ids: list[str], blind: Blind | None
) -> int:
    """Make these conversations' entries again, whole, from their messages up to
    ``indexed_seq`` and their customer (``keys reindex``: every term under the next index
    key); how many were rebuilt. Run it in the transaction that read the entries (on
    PostgreSQL ``FOR UPDATE``): a catch-up meanwhile waits for it, then appends the
    messages after ``indexed_seq`` as usual."""
    if not conversation_ids:
        return 0
    marks = ", ".join("?" for _ in conversation_ids)
    entries = await tx.fetch(
        "SELECT s.doc, s.conversation_id AS id, s.indexed_seq, c.customer_id, c.metadata "
        "FROM conversation_search s JOIN conversations c ON c.id = s.conversation_id "
        f"WHERE s.conversation_id IN ({marks})",
        *conversation_ids,
    )
    if not entries:
        return 0  # deleted meanwhile (erasure, retention)
    found = await tx.fetch(
        f"SELECT id, conversation_id, seq, text FROM messages WHERE conversation_id IN ({marks}) "
        "ORDER BY conversation_id, seq",
        *conversation_ids,
    )
    owners = sorted({e["customer_id"] for e in entries})
    customers = await tx.fetch(
        "SELECT id, name, email, external_id FROM customers WHERE id IN "
        f"({', '.join('?' for _ in owners)})",
        *owners,
    )
    people = {c["id"]: _names(tx, c) for c in customers}
    messages: dict[str, list[dict[str, Any]]] = {}
    for m in found:
        messages.setdefault(m["conversation_id"], []).append(m)
    for entry in entries:
        said = [m for m in messages.get(entry["id"], []) if m["seq"] <= entry["indexed_seq"]]
        texts = (tx.fields.open("messages", "text", m["id"], m["text"]) for m in said)
        terms = " ".join(t for t in (index_terms(x or "", blind) for x in texts) if t)
        names = people.get(entry["customer_id"], []) + _contact(tx, entry)
        if dialect == "postgresql":
            await tx.execute(
                "UPDATE conversation_search SET document = strip(to_tsvector('simple', ?)), "
                "people = strip(to_tsvector('simple', ?)) WHERE conversation_id = ?",
                terms,
                index_terms(" ".join(names), blind),
                entry["id"],
            )
        else:
            await tx.execute(
                "UPDATE conversation_fts SET terms = ?, people = ? WHERE rowid = ?",
                terms,
                index_terms(" ".join(names), blind),
                entry["doc"],
            )
    return len(entries)


async def compact(db: SqlDatabase) -> None:
    """After ``rebuild``: on SQLite, merge the FTS5 index into one segment. Replaced terms
    stay in older segments (never matched, but stored) until a merge drops them; this one
    rewrites the whole index in one transaction. PostgreSQL: nothing to do (VACUUM reclaims
    the replaced rows)."""
    if db.dialect == "sqlite":
        await db.execute("INSERT INTO conversation_fts (conversation_fts) VALUES ('optimize')")


async def _write_sqlite(tx: SqlExecutor, batch: list[dict[str, Any]]) -> int:
    """Add a round's entries in a few statements, whatever its size: the transaction holds
    SQLite's one connection, and each statement is a trip between the event loop and the
    database thread, so one statement per conversation kept every turn's write waiting."""
    ids = [v["conversation_id"] for v in batch]
    current = {
        r["conversation_id"]: r
        for r in await tx.fetch(
            "SELECT conversation_id, doc, indexed_seq FROM conversation_search "
            f"WHERE conversation_id IN ({', '.join('?' for _ in ids)})",
            *ids,
        )
    }
    # Another run (the worker's, a search's) may have indexed some of these meanwhile.
    fresh = [
        v
        for v in batch
        if v["conversation_id"] not in current
        or current[v["conversation_id"]]["indexed_seq"] < v["indexed_seq"]
    ]
    first = [v for v in fresh if v["conversation_id"] not in current]
    more = [v for v in fresh if v["conversation_id"] in current]
    if first:
        await tx.executemany(
            "INSERT INTO conversation_search (conversation_id, workspace_id, indexed_seq, "
            "intents, updated_at) VALUES (?, ?, ?, ?, ?)",
            [
                (v["conversation_id"], v["workspace_id"], v["indexed_seq"], v["intents"], v["now"])
                for v in first
            ],
        )
        await tx.executemany(
            "INSERT INTO conversation_fts (rowid, terms, people) SELECT doc, ?, ? "
            "FROM conversation_search WHERE conversation_id = ?",
            [(v["terms"], v["people"], v["conversation_id"]) for v in first],
        )
    if more:
        await tx.executemany(
            "UPDATE conversation_search SET indexed_seq = ?, intents = ?, updated_at = ? "
            "WHERE conversation_id = ?",
            [(v["indexed_seq"], v["intents"], v["now"], v["conversation_id"]) for v in more],
        )
        await tx.executemany(
            "UPDATE conversation_fts SET terms = terms || ' ' || ?, people = ? WHERE rowid = ?",
            [(v["terms"], v["people"], current[v["conversation_id"]]["doc"]) for v in more],
        )
    return len(fresh)


async def _write_postgresql(db: SqlDatabase, batch: list[dict[str, Any]]) -> None:
    """One statement per batch. The WHERE keeps a run that lost a race with another from
    appending the same messages twice."""
    await db.executemany(
        "INSERT INTO conversation_search (conversation_id, workspace_id, indexed_seq, intents, "
        "document, people, updated_at) VALUES (?, ?, ?, ?, strip(to_tsvector('simple', ?)), "
        "strip(to_tsvector('simple', ?)), ?) ON CONFLICT (conversation_id) DO UPDATE SET "
        "indexed_seq = excluded.indexed_seq, intents = excluded.intents, "
        "document = conversation_search.document || excluded.document, "
        "people = excluded.people, updated_at = excluded.updated_at "
        "WHERE conversation_search.indexed_seq < excluded.indexed_seq",
        [
            (
                v["conversation_id"],
                v["workspace_id"],
                v["indexed_seq"],
                v["intents"],
                v["terms"],
                v["people"],
                v["now"],
            )
            for v in batch
        ],
    )


async def _set_mark(db: SqlDatabase, mark: datetime) -> None:
    await db.execute(
        "INSERT INTO search_progress (name, mark) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET mark = excluded.mark",
        MARK,
        mark,
    )


def blind_for(store: Store) -> Blind | None:
    """The keyed hash search terms go through when field encryption is on (the keyring's
    blind index, one domain for transcript terms), else None: plain normalised words."""
    keyring = getattr(getattr(store, "fields", None), "keyring", None)
    if keyring is None:
        return None
    return lambda term: keyring.blind("search_term", term)


def previous_blind_for(store: Store) -> Blind | None:
    """While the index key changes (``keys rotate-index``): the keyed hash under the index
    key being replaced, which entries not re-indexed yet hold, so a search matches either;
    None otherwise. Entries the catch-up extended during the change hold both."""
    keyring = getattr(getattr(store, "fields", None), "keyring", None)
    if keyring is None or len(keys := keyring.index_keys()) < 2:
        return None
    return lambda term: keyed_hash(keys[-1], "search_term", term)


def _sql(store: Store) -> SqlDatabase:
    if not isinstance(store, SqlDatabase):
        raise TypeError("transcript search needs an SQL store (SQLite or PostgreSQL)")
    return store
