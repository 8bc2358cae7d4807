"""Tags on conversations: short labels agents put on a conversation ("refund", "vip",
"bug:checkout") and search by (inbox/search.py). Lower-case and trimmed, so "VIP" and
"vip " are one tag; at most ``MAX_TAGS`` per conversation; letters, digits and ``_ - . : /``
and spaces, so a tag is never markup or a query."""

from __future__ import annotations

import re

from smartsupport.domain import utcnow
from smartsupport.errors import InvalidInput
from smartsupport.inbox.search import normalise_tag
from smartsupport.storage.base import SqlDatabase

MAX_TAGS = 20
TAG = re.compile(r"^[^\W_][\w .:/-]{0,39}$")


def checked(tags: list[str]) -> list[str]:
    """The tags normalised, in order, each once; InvalidInput names a bad one."""
    found: list[str] = []
    for raw in tags:
        tag = normalise_tag(raw)
        if not TAG.match(tag):
            raise InvalidInput(
                f"a tag is 1-40 letters, digits, spaces or _ - . : / and starts with a letter "
                f"or digit: {raw[:60]!r}",
                code="invalid_tag",
            )
        if tag not in found:
            found.append(tag)
    return found


async def tags_of(db: SqlDatabase, conversation_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT tag FROM conversation_tags WHERE conversation_id = ? ORDER BY tag",
        conversation_id,
    )
    return [r["tag"] for r in rows]


async def add_tags(
    db: SqlDatabase, workspace_id: str, conversation_id: str, tags: list[str], staff_id: str
) -> list[str]:
    """Add tags (those already there stay once); returns the conversation's tags."""
    wanted = checked(tags)
    current = await tags_of(db, conversation_id)
    if len(set(current) | set(wanted)) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags on a conversation", code="too_many_tags")
    now = utcnow()
    for tag in wanted:
        await db.execute(
            "INSERT INTO conversation_tags (conversation_id, workspace_id, tag, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (conversation_id, tag) DO NOTHING",
            conversation_id,
            workspace_id,
            tag,
            staff_id,
            now,
        )
    return await tags_of(db, conversation_id)


async def remove_tag(db: SqlDatabase, conversation_id: str, tag: str) -> list[str]:
    """Remove a tag (a tag not there is fine); returns the conversation's tags."""
    await db.execute(
        "DELETE FROM conversation_tags WHERE conversation_id = ? AND tag = ?",
        conversation_id,
        normalise_tag(tag),
    )
    return await tags_of(db, conversation_id)
