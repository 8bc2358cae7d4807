"""What the email channel keeps in the database (migration 0009, both dialects): how far
each mailbox has been read, and which conversation each Message-ID belongs to.

    read_position / save_position   (UIDVALIDITY, last UID) of a mailbox: a restart resumes
                                    after the last mail handled, never before, never after
    thread_conversation             the conversation of the nearest earlier mail a new mail
                                    names (In-Reply-To, then References)
    remember / seen                 Message-ID -> conversation, for mails in and out

SQL written once for both backends (``storage.base.SqlExecutor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from smartsupport.domain import utcnow
from smartsupport.storage.base import SqlExecutor


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


async def thread_conversation(
    db: SqlExecutor, workspace_id: str, message_ids: Sequence[str]
) -> str | None:
    """The conversation of the first of ``message_ids`` (nearest first) that we know."""
    ids = list(message_ids)[:50]  # a References header can be long; the nearest decide
    if not ids:
        return None
    marks = ", ".join("?" for _ in ids)
    rows = await db.fetch(
        "SELECT message_id, conversation_id FROM email_threads "
        f"WHERE workspace_id = ? AND message_id IN ({marks})",
        workspace_id,
        *ids,
    )
    found = {r["message_id"]: r["conversation_id"] for r in rows}
    return next((found[m] for m in ids if m in found), None)


async def seen(db: SqlExecutor, workspace_id: str, message_id: str) -> str | None:
    """The conversation this mail was already filed in, or None."""
    row = await db.fetchrow(
        "SELECT conversation_id FROM email_threads WHERE workspace_id = ? AND message_id = ?",
        workspace_id,
        message_id,
    )
    return str(row["conversation_id"]) if row else None


async def remember(
    db: SqlExecutor,
    workspace_id: str,
    message_id: str,
    conversation_id: str,
    direction: Literal["in", "out"],
) -> None:
    await db.execute(
        "INSERT INTO email_threads (workspace_id, message_id, conversation_id, direction, "
        "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id, message_id) DO NOTHING",
        workspace_id,
        message_id,
        conversation_id,
        direction,
        utcnow(),
    )
