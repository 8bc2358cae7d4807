"""What the email channel keeps in the database (migration 0009, both dialects): how far
each mailbox has been read, and which conversation each Message-ID belongs to.

    read_position / save_position   (UIDVALIDITY, last UID) of a mailbox: a restart resumes
                                    after the last mail handled, never before, never after
    thread_conversation             the conversation of the nearest earlier mail a new mail
                                    names (In-Reply-To, then References)
    remember / seen                 Message-ID -> conversation, for mails in and out

A Message-ID often names the sender's host or address, so with field encryption on it is
sealed (storage/fields.py, bound to its row) and rows are found by ``message_hash``, its keyed
hash (migration 0039). A row from before encryption has its clear Message-ID as its key until
``keys reencrypt`` seals it; while the index key changes, a row is keyed by either key's hash
until ``keys reindex`` reaches it: look-ups match all three.

SQL written once for both backends (``storage.base.SqlExecutor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from smartsupport.domain import utcnow
from smartsupport.storage.base import SqlExecutor

TABLE = "email_threads"


async def read_position(db: SqlExecutor, mailbox: str) -> tuple[int, int] | None:
    row = await db.fetchrow(
        "SELECT uidvalidity, last_uid FROM email_mailboxes WHERE mailbox = ?", mailbox
    )
    return (int(row["uidvalidity"]), int(row["last_uid"])) if row else None


async def save_position(
    db: SqlExecutor, mailbox: str, workspace_id: str, uidvalidity: int, last_uid: int
) -> None:
    await db.execute(
        "INSERT INTO email_mailboxes (mailbox, workspace_id, uidvalidity, last_uid, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET "
        "uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, "
        "updated_at = excluded.updated_at",
        mailbox,
        workspace_id,
        uidvalidity,
        last_uid,
        utcnow(),
    )


def message_key(db: SqlExecutor, message_id: str) -> str:
    """What ``message_hash`` holds for a Message-ID: its keyed hash, or the Message-ID itself
    without a keyring (the message_id column is in clear then too)."""
    return db.fields.lookup("message_id", message_id) or message_id


def client_id(db: SqlExecutor, message_id: str) -> str:
    """The ``client_id`` of the message a mail becomes (a mail read twice is one turn):
    ``email:`` and its Message-ID's keyed hash, so messages.client_id holds no Message-ID
    either. (A mail read again after ``keys rotate-index`` gets a new one; mails are read
    again only when a mailbox's UIDVALIDITY changes.)"""
    return f"email:{message_key(db, message_id)}"


def _keys(db: SqlExecutor, message_id: str) -> list[str]:
    """The ``message_hash`` values a Message-ID's row may have (see the module docstring)."""
    hashes = [h or message_id for h in db.fields.lookups("message_id", message_id)]
    return [*hashes, message_id]


async def thread_conversation(
    db: SqlExecutor, workspace_id: str, message_ids: Sequence[str]
) -> str | None:
    """The conversation of the first of ``message_ids`` (nearest first) that we know."""
    ids = list(message_ids)[:50]  # a References header can be long; the nearest decide
    if not ids:
        return None
    keys = {message_id: _keys(db, message_id) for message_id in ids}
    wanted = [key for found in keys.values() for key in found]
    rows = await db.fetch(
        "SELECT message_hash, conversation_id FROM email_threads "
        f"WHERE workspace_id = ? AND message_hash IN ({', '.join('?' for _ in wanted)})",
        workspace_id,
        *wanted,
    )
    found = {r["message_hash"]: r["conversation_id"] for r in rows}
    for message_id in ids:
        for key in keys[message_id]:
            if key in found:
                return str(found[key])
    return None


async def seen(db: SqlExecutor, workspace_id: str, message_id: str) -> str | None:
    """The conversation this mail was already filed in, or None."""
    keys = _keys(db, message_id)
    row = await db.fetchrow(
        "SELECT conversation_id FROM email_threads WHERE workspace_id = ? "
        "AND message_hash IN (?, ?, ?) ORDER BY CASE WHEN message_hash = ? THEN 0 ELSE 1 END",
        workspace_id,
        *keys,
        keys[0],
    )
    return str(row["conversation_id"]) if row else None


async def remember(
    db: SqlExecutor,
    workspace_id: str,
    message_id: str,
    conversation_id: str,
    direction: Literal["in", "out"],
) -> None:
    if await seen(db, workspace_id, message_id) is not None:
        return  # also filed before encryption, or under the index key being replaced
    key = message_key(db, message_id)
    row = {"workspace_id": workspace_id, "message_hash": key, "message_id": message_id}
    await db.execute(
        "INSERT INTO email_threads (workspace_id, message_id, message_hash, conversation_id, "
        "direction, created_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (workspace_id, message_hash) DO NOTHING",
        workspace_id,
        db.fields.seal_row(TABLE, row)["message_id"],
        key,
        conversation_id,
        direction,
        utcnow(),
    )
