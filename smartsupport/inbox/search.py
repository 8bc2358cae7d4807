"""History and search: every conversation findable by customer, text, status, channel, agent,
intent, tag and date, newest first (the inbox's history page and ``GET /api/v1/inbox/search``).

    text       every term of ``search_terms.query_terms`` in the transcript (FTS5 on SQLite,
               a tsvector on PostgreSQL: inbox/search_index.py fills both)
    customer   every term in the customer's name, email or id, or the contact form's email
    status     bot | waiting_for_agent | with_agent | resolved (the resolved view)
    channel    web, email, ...
    agent      the staff id who held or resolved it
    intent     an intent of one of the customer's messages
    tag        a tag on the conversation
    since, until   the conversation started in [since, until)

The query is parameters only: whatever an agent types is data, never SQL or FTS syntax, so a
search with odd characters finds what its letters and digits find (or nothing) and never
errors. Each card carries the customer's name and email and how many other conversations
they had; ``before`` pages back (the ``updated_at`` of the last card of the previous page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smartsupport.search_terms import query_terms
from smartsupport.storage.base import SqlDatabase

Blind = Callable[[str], str]
MAX_RESULTS = 100
# Below this many matches the full-text index drives the query; above it the newest
# conversations are walked (bench/inbox_scale.py measured both plans, on both engines).
FEW_MATCHES = 500


@dataclass(slots=True)
class SearchQuery:
    text: str = ""
    customer: str = ""
    status: str | None = None
    channel: str | None = None
    agent: str | None = None
    intent: str | None = None
    tag: str | None = None
    customer_id: str | None = None  # one customer's conversations (the card's "past" link)
    since: datetime | None = None
    until: datetime | None = None
    before: datetime | None = None
    limit: int = 50


@dataclass(slots=True)
class Card:
    conversation_id: str
    workspace_id: str
    status: str
    channel: str
    customer_id: str
    customer_name: str | None
    customer_email: str | None
    past_conversations: int
    agent_id: str | None
    tags: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    ticket: dict[str, Any] | None = None


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _alternatives(words: str, blind: Blind | None, previous: Blind | None) -> list[list[str]]:
    """The query's terms, each with the forms it may be stored in: while the index key
    changes, its hash under the next key or the current one (``previous``)."""
    terms = query_terms(words, blind)
    if previous is None:
        return [[t] for t in terms]
    # query_terms keeps the terms' order under any blind, so the two lists line up
    return [[t, o] for t, o in zip(terms, query_terms(words, previous), strict=True)]


def _fts(alternatives: list[list[str]]) -> str:
    """An FTS5 expression matching every term in one of its forms (all quoted: data)."""
    groups = ("(" + " OR ".join(_quoted(t) for t in forms) + ")" for forms in alternatives)
    return " AND ".join(groups)


def _tsquery(alternatives: list[list[str]]) -> str:
    """The same as tsquery SQL, each form a parameter. Each goes through plainto_tsquery as
    the indexed text went through to_tsvector: the parser splits some hex hashes ("3e5ab"
    is '3e5' 'ab'), and only plainto_tsquery joins the pieces with AND, which a stripped
    tsvector (no positions) can match; to_tsquery would make them a phrase."""
    one = "plainto_tsquery('simple', ?)"
    return " && ".join("(" + " || ".join(one for _ in forms) + ")" for forms in alternatives)


async def search(
    db: SqlDatabase,
    workspace_ids: list[str],
    query: SearchQuery,
    *,
    blind: Blind | None = None,
    previous: Blind | None = None,
) -> list[Card]:
    """The conversations of ``workspace_ids`` that match every given filter, newest first.
    ``previous``: the old index key's blind while it changes (search_index.previous_blind_for)."""
    if not workspace_ids:
        return []
    spaces = ", ".join("?" for _ in workspace_ids)
    where = [f"c.workspace_id IN ({spaces})"]
    args: list[Any] = list(workspace_ids)
    postgres = db.dialect == "postgresql"
    source = "conversations c LEFT JOIN conversation_search s ON s.conversation_id = c.id"
    fts: list[str] = []  # SQLite: one MATCH over both columns
    texts = len(where)  # PostgreSQL: where[texts:] and args[len(workspace_ids):] are the text
    for column, words in (("terms", query.text), ("people", query.customer)):
        if not words.strip():
            continue
        alternatives = _alternatives(words, blind, previous)
        if not alternatives:
            return []  # only odd characters: nothing can match them
        target = f"s.{'document' if column == 'terms' else column}"
        if postgres and previous is not None:
            where.append(f"{target} @@ ({_tsquery(alternatives)})")
            args += [form for forms in alternatives for form in forms]
        elif postgres:
            where.append(f"{target} @@ plainto_tsquery('simple', ?)")
            args.append(" ".join(forms[0] for forms in alternatives))
        else:
            # Each term quoted as an FTS5 string ("" escapes a quote): data, never syntax.
            fts.append(f"{column} : ({_fts(alternatives)})")
    if postgres and len(where) > texts:
        hits = await _postgres_hits(db, workspace_ids, where[texts:], args[len(workspace_ids) :])
        if hits is not None:  # few: they drive the query by id, the text is matched already
            if not hits:
                return []
            where[texts:] = [f"c.id IN ({', '.join('?' for _ in hits)})"]
            args[len(workspace_ids) :] = hits
    if query.customer_id and not postgres:
        # One customer's conversations are few, but SQLite has no statistics (nothing runs
        # ANALYZE) and walked the workspace's newest-first index to find them (1.3 s at
        # 100,000): the unary + keeps that index out, so the customer's index drives.
        where[0] = "+" + where[0]
    if fts:
        expression = " AND ".join(fts)
        found = await db.fetchrow(
            "SELECT COUNT(*) AS n FROM (SELECT rowid FROM conversation_fts "
            "WHERE conversation_fts MATCH ? LIMIT ?) AS hits",
            expression,
            FEW_MATCHES,
        )
        if found is not None and found["n"] < FEW_MATCHES:
            # Few matches: the index drives the query and only they are sorted.
            source = (
                "conversation_fts JOIN conversation_search s ON s.doc = conversation_fts.rowid "
                "JOIN conversations c ON c.id = s.conversation_id"
            )
            where.insert(0, "conversation_fts MATCH ?")
        else:
            # Many: walk the newest conversations and stop at the page's last match.
            where.insert(
                0, "s.doc IN (SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH ?)"
            )
        args.insert(0, expression)
    for column, value in (
        ("c.status", query.status),
        ("c.channel", query.channel),
        ("c.customer_id", query.customer_id),
    ):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if query.agent:
        where.append(
            "c.id IN (SELECT conversation_id FROM inbox_conversations WHERE agent_id = ? "
            "UNION SELECT conversation_id FROM inbox_conversations WHERE resolved_by = ?)"
        )
        args += [query.agent, query.agent]
    if query.intent:
        where.append("s.intents LIKE ? ESCAPE '\\'")
        args.append(f"% {_like(query.intent.strip())} %")
    if query.tag:
        where.append(
            "c.id IN (SELECT conversation_id FROM conversation_tags "
            f"WHERE workspace_id IN ({spaces}) AND tag = ?)"
        )
        args += [*workspace_ids, normalise_tag(query.tag)]
    for sql, when in (
        ("c.created_at >= ?", query.since),
        ("c.created_at < ?", query.until),
        ("c.updated_at < ?", query.before),
    ):
        if when is not None:
            where.append(sql)
            args.append(when)
    rows = await db.fetch(
        "SELECT c.id, c.workspace_id, c.status, c.channel, c.customer_id, c.metadata, "
        "c.created_at, c.updated_at, cu.name AS customer_name, cu.email AS customer_email, "
        "i.agent_id, i.resolved_by, "
        "(SELECT COUNT(*) FROM conversations p WHERE p.customer_id = c.customer_id) AS seen "
        f"FROM {source} JOIN customers cu ON cu.id = c.customer_id "
        "LEFT JOIN inbox_conversations i ON i.conversation_id = c.id "
        f"WHERE {' AND '.join(where)} ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
        *args,
        max(1, min(query.limit, MAX_RESULTS)),
    )
    cards = [_card(db, r) for r in rows]
    await _add_tags(db, cards)
    return cards


async def _postgres_hits(
    db: SqlDatabase, workspace_ids: list[str], matches: list[str], args: list[Any]
) -> list[str] | None:
    """The ids of the conversations the text conditions ``matches`` (on ``s``) find, or
    None when there are ``FEW_MATCHES`` or more. PostgreSQL guesses a word its statistics
    do not list (a typo, a name, a word nobody used) at hundreds of rows, so it walked the
    newest conversations for a word in none of them (600 ms at 100,000); counted first,
    few matches drive the query and many let the planner walk newest first as before."""
    spaces = ", ".join("?" for _ in workspace_ids)
    rows = await db.fetch(
        f"SELECT s.conversation_id FROM conversation_search s WHERE s.workspace_id IN ({spaces}) "
        f"AND {' AND '.join(matches)} LIMIT ?",
        *workspace_ids,
        *args,
        FEW_MATCHES,
    )
    return [r["conversation_id"] for r in rows] if len(rows) < FEW_MATCHES else None


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def normalise_tag(tag: str) -> str:
    """Tags are compared lower-case and trimmed: "VIP " and "vip" are one tag."""
    return " ".join(tag.split()).casefold()


def _card(db: SqlDatabase, r: dict[str, Any]) -> Card:
    fields = db.fields
    metadata = fields.open_metadata(r["id"], r["metadata"] or {})  # the contact is sealed
    raw = metadata.get("contact")
    contact: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name = fields.open("customers", "name", r["customer_id"], r["customer_name"])
    email = fields.open("customers", "email", r["customer_id"], r["customer_email"])
    ticket = metadata.get("ticket")
    return Card(
        conversation_id=r["id"],
        workspace_id=r["workspace_id"],
        status=r["status"],
        channel=r["channel"],
        customer_id=r["customer_id"],
        customer_name=name or contact.get("name"),
        customer_email=email or contact.get("email"),
        past_conversations=max(0, int(r["seen"]) - 1),
        agent_id=r["agent_id"] or r["resolved_by"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        ticket=ticket if isinstance(ticket, dict) else None,
    )


async def _add_tags(db: SqlDatabase, cards: list[Card]) -> None:
    if not cards:
        return
    by_id = {c.conversation_id: c for c in cards}
    marks = ", ".join("?" for _ in by_id)
    rows = await db.fetch(
        f"SELECT conversation_id, tag FROM conversation_tags WHERE conversation_id IN ({marks}) "
        "ORDER BY tag",
        *by_id,
    )
    for row in rows:
        by_id[row["conversation_id"]].tags.append(row["tag"])
