"""The review tables (migration 0021) behind small named queries, for both dialects through
the store's shared-SQL door (``SqlDatabase``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from smartsupport.domain import utcnow
from smartsupport.ids import new_id
from smartsupport.storage.base import SqlDatabase, SqlExecutor
from smartsupport.storage.fields import PLAINTEXT, FieldCipher

ACTIONS = ("assign", "new_intent", "needs_article", "dismiss")
LABELLING = ("assign", "new_intent")  # the actions that give a message an intent
HELD_OUT_EVERY = 4  # one reviewed message in four is kept for the test set


def held_out(message_id: str) -> bool:
    """Whether a reviewed message belongs to the test set. Decided by a hash of its id, so
    the test set stays the same from one retraining to the next and both the previous and
    the candidate model are scored on messages neither was trained on."""
    return int(hashlib.sha256(message_id.encode()).hexdigest()[:8], 16) % HELD_OUT_EVERY == 0


@dataclass(slots=True)
class ReviewDecision:
    id: str
    workspace_id: str
    message_id: str
    text: str
    action: str
    intent: str | None
    held_out: bool
    decided_by: str | None
    decided_at: datetime


@dataclass(slots=True)
class ReviewModel:
    id: str
    workspace_id: str
    status: str
    model_hash: str
    path: str
    examples: int
    evaluation: dict[str, Any]
    reason: str
    created_by: str | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "examples": self.examples,
            "evaluation": self.evaluation,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def cipher(db: object) -> FieldCipher:
    """The store's field cipher (storage/fields.py): message texts may be sealed at rest,
    and the copies the review tables keep of them are sealed the same way."""
    found = getattr(db, "fields", PLAINTEXT)
    return found if isinstance(found, FieldCipher) else PLAINTEXT


def message_text(db: object, row: dict[str, Any]) -> str:
    """A message row's text, opened."""
    return str(cipher(db).open("messages", "text", row["id"], row["text"]))


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


class ReviewStore:
    def __init__(self, store: object) -> None:
        # Every Store backend is also a SqlDatabase.
        self.db = cast(SqlDatabase | SqlExecutor, store)

    # -- decisions -----------------------------------------------------------------------
    async def decide(
        self,
        workspace_id: str,
        messages: list[tuple[str, str]],
        action: str,
        intent: str | None,
        staff_id: str | None,
    ) -> int:
        """Record one decision for each (message id, text); a message decided before gets
        the new decision."""
        now, fields = utcnow(), cipher(self.db)
        rows = []
        for mid, text in messages:
            row_id = new_id()
            sealed = fields.seal("review_decisions", "text", row_id, text)
            rows.append(
                (row_id, workspace_id, mid, sealed, action, intent, int(held_out(mid)),
                 staff_id, now)
            )  # fmt: skip
        await self.db.executemany(
            "INSERT INTO review_decisions (id, workspace_id, message_id, text, action, intent,"
            " held_out, decided_by, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (workspace_id, message_id) DO UPDATE SET id = excluded.id,"
            " text = excluded.text, action = excluded.action,"
            " intent = excluded.intent, decided_by = excluded.decided_by,"
            " decided_at = excluded.decided_at",
            rows,
        )
        return len(rows)

    async def forget_erased(self, workspace_id: str) -> int:
        """Drop the copies of customer messages that are gone (an erased customer, the
        retention purge): decisions and shadow results about them. Run before the queue is
        built and before retraining, so an erased text is never trained on or shown again."""
        gone = " workspace_id = ? AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = message_id)"
        dropped = await self.db.execute(
            "DELETE FROM review_decisions WHERE message_id NOT LIKE 'import:%' AND" + gone,
            workspace_id,
        )
        return dropped + await self.db.execute(
            "DELETE FROM shadow_results WHERE" + gone, workspace_id
        )

    async def decisions(self, workspace_id: str) -> list[ReviewDecision]:
        rows = await self.db.fetch(
            "SELECT * FROM review_decisions WHERE workspace_id = ? ORDER BY decided_at, id",
            workspace_id,
        )
        fields = cipher(self.db)
        return [
            ReviewDecision(
                **{
                    **row,
                    "held_out": bool(row["held_out"]),
                    "text": fields.open("review_decisions", "text", row["id"], row["text"]),
                }
            )
            for row in rows
        ]

    async def decided_message_ids(self, workspace_id: str) -> set[str]:
        rows = await self.db.fetch(
            "SELECT message_id FROM review_decisions WHERE workspace_id = ?", workspace_id
        )
        return {row["message_id"] for row in rows}

    async def learned_intents(self, workspace_id: str) -> set[str]:
        """Intents reviewers created (they live in the database, not in intents.yaml)."""
        rows = await self.db.fetch(
            "SELECT DISTINCT intent FROM review_decisions"
            " WHERE workspace_id = ? AND action = 'new_intent'",
            workspace_id,
        )
        return {row["intent"] for row in rows}

    # -- models --------------------------------------------------------------------------
    async def add_model(self, model: ReviewModel) -> None:
        async with cast(SqlDatabase, self.db).transaction() as tx:
            if model.status == "deployed":
                await tx.execute(
                    "UPDATE review_models SET status = 'retired'"
                    " WHERE workspace_id = ? AND status = 'deployed'",
                    model.workspace_id,
                )
            await tx.execute(
                "INSERT INTO review_models (id, workspace_id, status, model_hash, path,"
                " examples, evaluation, reason, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                model.id, model.workspace_id, model.status, model.model_hash, model.path,
                model.examples, model.evaluation, model.reason, model.created_by,
                model.created_at,
            )  # fmt: skip

    async def models(self, workspace_id: str, limit: int = 20) -> list[ReviewModel]:
        rows = await self.db.fetch(
            "SELECT * FROM review_models WHERE workspace_id = ?"
            " ORDER BY created_at DESC, id LIMIT ?",
            workspace_id,
            limit,
        )
        return [ReviewModel(**row) for row in rows]

    async def model(self, workspace_id: str, model_id: str) -> ReviewModel | None:
        row = await self.db.fetchrow(
            "SELECT * FROM review_models WHERE workspace_id = ? AND id = ?",
            workspace_id,
            model_id,
        )
        return ReviewModel(**row) if row else None

    async def with_status(self, workspace_id: str, status: str) -> ReviewModel | None:
        row = await self.db.fetchrow(
            "SELECT * FROM review_models WHERE workspace_id = ? AND status = ?"
            " ORDER BY created_at DESC LIMIT 1",
            workspace_id,
            status,
        )
        return ReviewModel(**row) if row else None

    async def set_shadow(self, workspace_id: str, model_id: str | None) -> None:
        """Make ``model_id`` the workspace's one shadow model (None: stop shadowing)."""
        async with cast(SqlDatabase, self.db).transaction() as tx:
            await tx.execute(
                "UPDATE review_models SET status = 'rejected'"
                " WHERE workspace_id = ? AND status = 'shadow'",
                workspace_id,
            )
            if model_id is not None:
                await tx.execute(
                    "UPDATE review_models SET status = 'shadow' WHERE workspace_id = ? AND id = ?",
                    workspace_id,
                    model_id,
                )

    # -- the customer messages behind a decision -----------------------------------------
    async def customer_messages(self, workspace_id: str, ids: list[str]) -> dict[str, str]:
        """id -> text of those of ``ids`` that are customer messages of the workspace."""
        if not ids:
            return {}
        rows = await self.db.fetch(
            "SELECT m.id, m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            f" WHERE c.workspace_id = ? AND m.author = 'customer' AND m.id IN ({_marks(ids)})",
            workspace_id,
            *ids,
        )
        return {row["id"]: message_text(self.db, row) for row in rows}
