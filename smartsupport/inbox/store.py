"""The inbox's tables (migration 0006) behind small named queries.

Written once for both dialects through the store's shared-SQL door (``SqlDatabase``); the
conversation itself (status, messages, metadata) stays with ``Store``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from smartsupport.domain import utcnow
from smartsupport.errors import Conflict, NotFound
from smartsupport.ids import new_id
from smartsupport.storage.base import SqlDatabase, SqlExecutor

AGENT_STATUSES = ("online", "away", "offline")
DEFAULT_CAPACITY = 3


@dataclass(slots=True)
class AgentState:
    staff_id: str
    status: str = "offline"
    capacity: int = DEFAULT_CAPACITY
    teams: list[str] = field(default_factory=list)
    last_offered_at: datetime | None = None
    skills: list[str] = field(default_factory=list)  # what they handle (routing.py)
    languages: list[str] = field(default_factory=list)  # what they answer in; [] = any


@dataclass(slots=True)
class Canned:
    id: str
    workspace_id: str
    shortcut: str
    title: str
    body: str


@dataclass(slots=True)
class Note:
    id: str
    conversation_id: str
    author_id: str
    author_name: str
    text: str
    created_at: datetime


ROWS = "inbox_conversations"
_ROW_COLUMNS = (
    "agent_id",
    "team",
    "offered_to",
    "offer_expires_at",
    "assigned_at",
    "resolved_at",
    "resolved_by",
    "csat_requested_at",
    "csat_rating",
    "csat_comment",
    "csat_at",
)


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


class InboxStore:
    def __init__(self, store: object) -> None:
        # Every Store backend is also a SqlDatabase; a transaction's executor works too.
        self.db = cast(SqlDatabase | SqlExecutor, store)

    # -- agents --------------------------------------------------------------------------
    async def agents(self, staff_ids: list[str]) -> dict[str, AgentState]:
        """Every given agent's state; agents never configured get the defaults."""
        states = {sid: AgentState(sid) for sid in staff_ids}
        if staff_ids:
            rows = await self.db.fetch(
                f"SELECT * FROM inbox_agents WHERE staff_id IN ({_marks(staff_ids)})",
                *staff_ids,
            )
            for row in rows:
                states[row["staff_id"]] = AgentState(
                    row["staff_id"],
                    row["status"],
                    row["capacity"],
                    list(row["teams"] or []),
                    row["last_offered_at"],
                    list(row.get("skills") or []),
                    list(row.get("languages") or []),
                )
        return states

    async def agent(self, staff_id: str) -> AgentState:
        return (await self.agents([staff_id]))[staff_id]

    async def save_agent(self, state: AgentState) -> None:
        await self.db.execute(
            "INSERT INTO inbox_agents (staff_id, status, capacity, teams, last_offered_at, "
            "skills, languages, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (staff_id) DO UPDATE SET "
            "status = excluded.status, capacity = excluded.capacity, teams = excluded.teams, "
            "last_offered_at = excluded.last_offered_at, skills = excluded.skills, "
            "languages = excluded.languages, updated_at = excluded.updated_at",
            state.staff_id,
            state.status,
            state.capacity,
            state.teams,
            state.last_offered_at,
            state.skills,
            state.languages,
            utcnow(),
        )

    async def held_counts(self, staff_ids: list[str]) -> dict[str, int]:
        """How many conversations each agent holds right now (their load)."""
        counts = dict.fromkeys(staff_ids, 0)
        if staff_ids:
            rows = await self.db.fetch(
                "SELECT i.agent_id, COUNT(*) AS n FROM inbox_conversations i "
                "JOIN conversations c ON c.id = i.conversation_id "
                f"WHERE c.status = 'with_agent' AND i.agent_id IN ({_marks(staff_ids)}) "
                "GROUP BY i.agent_id",
                *staff_ids,
            )
            counts.update({row["agent_id"]: int(row["n"]) for row in rows})
        return counts

    async def held_by(self, staff_id: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT i.conversation_id FROM inbox_conversations i "
            "JOIN conversations c ON c.id = i.conversation_id "
            "WHERE i.agent_id = ? AND c.status = 'with_agent' ORDER BY i.assigned_at",
            staff_id,
        )
        return [row["conversation_id"] for row in rows]

    async def held_rows(self, staff_id: str) -> list[dict[str, Any]]:
        """``held_by``'s conversations in one query, each with its customer's name, its
        last message (``message_*``; sealed as stored) and ``unread``, the customer's messages
        after the agent's read mark (``mark_read``) up to ``last_seq``: the inbox's "mine"
        list, which read them one conversation at a time (three queries each)."""
        return await self.db.fetch(
            "SELECT c.id, c.workspace_id, c.channel, c.customer_id, c.last_seq, "
            "cu.name AS customer_name, "
            "m.id AS message_id, m.text AS message_text, m.author AS message_author, "
            "m.created_at AS message_at, "
            "(SELECT COUNT(*) FROM messages u WHERE u.conversation_id = c.id "
            " AND u.author = 'customer' AND u.seq > COALESCE(r.seq, 0)) AS unread "
            "FROM inbox_conversations i "
            "JOIN conversations c ON c.id = i.conversation_id "
            "LEFT JOIN customers cu ON cu.id = c.customer_id "
            "LEFT JOIN inbox_reads r ON r.conversation_id = c.id AND r.staff_id = i.agent_id "
            "LEFT JOIN messages m ON m.id = (SELECT x.id FROM messages x "
            " WHERE x.conversation_id = c.id AND x.seq >= c.last_seq ORDER BY x.seq DESC LIMIT 1) "
            "WHERE i.agent_id = ? AND c.status = 'with_agent' ORDER BY i.assigned_at",
            staff_id,
        )

    async def mark_read(self, staff_id: str, conversation_id: str, seq: int) -> int:
        """The agent has read the conversation up to message ``seq``; returns the mark kept.
        A mark only moves forward: a late call from another device never unreads."""
        await self.db.execute(
            "INSERT INTO inbox_reads (conversation_id, staff_id, seq, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (conversation_id, staff_id) DO UPDATE SET "
            "seq = excluded.seq, updated_at = excluded.updated_at "
            "WHERE inbox_reads.seq < excluded.seq",
            conversation_id,
            staff_id,
            seq,
            utcnow(),
        )
        row = await self.db.fetchrow(
            "SELECT seq FROM inbox_reads WHERE conversation_id = ? AND staff_id = ?",
            conversation_id,
            staff_id,
        )
        assert row is not None  # written just above
        return int(row["seq"])

    # -- the per-conversation row --------------------------------------------------------
    async def row(self, conversation_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchrow(
            "SELECT * FROM inbox_conversations WHERE conversation_id = ?", conversation_id
        )
        return self.db.fields.open_row(ROWS, row) if row else None  # the CSAT comment

    async def rows(self, conversation_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not conversation_ids:
            return {}
        found = await self.db.fetch(
            "SELECT * FROM inbox_conversations "
            f"WHERE conversation_id IN ({_marks(conversation_ids)})",
            *conversation_ids,
        )
        return {row["conversation_id"]: self.db.fields.open_row(ROWS, row) for row in found}

    async def update(self, conversation_id: str, workspace_id: str, **changes: Any) -> None:
        """Create the conversation's row or change the given columns."""
        unknown = set(changes) - set(_ROW_COLUMNS)
        if unknown:
            raise ValueError(f"unknown inbox columns {sorted(unknown)}")
        # the customer's CSAT comment is sealed at rest (storage/fields.py)
        changes = self.db.fields.seal_row(ROWS, {"conversation_id": conversation_id, **changes})
        del changes["conversation_id"]
        names = list(changes)
        columns = ", ".join(["conversation_id", "workspace_id", "updated_at", *names])
        values = [conversation_id, workspace_id, utcnow(), *changes.values()]
        assignments = ", ".join(f"{n} = excluded.{n}" for n in ["updated_at", *names])
        await self.db.execute(
            f"INSERT INTO inbox_conversations ({columns}) VALUES ({_marks(values)}) "
            f"ON CONFLICT (conversation_id) DO UPDATE SET {assignments}",
            *values,
        )

    async def average_handle_seconds(self, workspace_id: str, last: int = 50) -> float | None:
        """Mean time from assignment to resolution over the last resolved conversations."""
        rows = await self.db.fetch(
            "SELECT assigned_at, resolved_at FROM inbox_conversations WHERE workspace_id = ? "
            "AND resolved_at IS NOT NULL AND assigned_at IS NOT NULL "
            "ORDER BY resolved_at DESC LIMIT ?",
            workspace_id,
            last,
        )
        spans = [(r["resolved_at"] - r["assigned_at"]).total_seconds() for r in rows]
        spans = [s for s in spans if s > 0]
        return sum(spans) / len(spans) if spans else None

    async def csat_summary(self, workspace_ids: list[str]) -> dict[str, Any]:
        if not workspace_ids:
            return {"count": 0, "average": None}
        row = await self.db.fetchrow(
            "SELECT COUNT(csat_rating) AS n, AVG(csat_rating) AS average "
            f"FROM inbox_conversations WHERE workspace_id IN ({_marks(workspace_ids)})",
            *workspace_ids,
        )
        count = int(row["n"]) if row else 0
        average = float(row["average"]) if row and row["average"] is not None else None
        return {"count": count, "average": round(average, 2) if average is not None else None}

    # -- canned responses ----------------------------------------------------------------
    async def canned(self, workspace_ids: list[str]) -> list[Canned]:
        if not workspace_ids:
            return []
        rows = await self.db.fetch(
            "SELECT id, workspace_id, shortcut, title, body FROM inbox_canned "
            f"WHERE workspace_id IN ({_marks(workspace_ids)}) ORDER BY shortcut",
            *workspace_ids,
        )
        return [Canned(**row) for row in rows]

    async def get_canned(self, canned_id: str) -> Canned:
        row = await self.db.fetchrow(
            "SELECT id, workspace_id, shortcut, title, body FROM inbox_canned WHERE id = ?",
            canned_id,
        )
        if row is None:
            raise NotFound(f"unknown canned response {canned_id!r}")
        return Canned(**row)

    async def add_canned(
        self, workspace_id: str, shortcut: str, title: str, body: str, created_by: str
    ) -> Canned:
        canned = Canned(new_id(), workspace_id, shortcut, title, body)
        try:
            await self.db.execute(
                "INSERT INTO inbox_canned (id, workspace_id, shortcut, title, body, created_by, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                canned.id,
                workspace_id,
                shortcut,
                title,
                body,
                created_by,
                utcnow(),
            )
        except Conflict:
            raise Conflict(
                f"the shortcut {shortcut!r} is already used in this workspace",
                code="shortcut_taken",
            ) from None
        return canned

    async def delete_canned(self, canned_id: str) -> None:
        await self.db.execute("DELETE FROM inbox_canned WHERE id = ?", canned_id)

    # -- notes ---------------------------------------------------------------------------
    async def add_note(
        self, conversation_id: str, author_id: str, author_name: str, text: str
    ) -> Note:
        note = Note(new_id(), conversation_id, author_id, author_name, text, utcnow())
        await self.db.execute(
            "INSERT INTO inbox_notes (id, conversation_id, author_id, author_name, text, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            note.id,
            conversation_id,
            author_id,
            self.db.fields.seal("inbox_notes", "author_name", note.id, author_name),
            self.db.fields.seal("inbox_notes", "text", note.id, text),
            note.created_at,
        )
        return note

    async def notes(self, conversation_id: str) -> list[Note]:
        rows = await self.db.fetch(
            "SELECT * FROM inbox_notes WHERE conversation_id = ? ORDER BY created_at, id",
            conversation_id,
        )
        return [Note(**self.db.fields.open_row("inbox_notes", row)) for row in rows]
