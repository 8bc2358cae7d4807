"""Where macros and their runs are kept (migration 0028): the definitions admins write, and
one row per run keyed by (conversation, run id), so the same run id never runs twice."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smartsupport.domain import utcnow
from smartsupport.errors import Conflict, NotFound
from smartsupport.ids import new_id
from smartsupport.inbox.macros import MacroSpec
from smartsupport.storage.base import SqlDatabase


@dataclass(slots=True)
class Macro:
    id: str
    workspace_id: str
    spec: MacroSpec

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "workspace": self.workspace_id, **self.spec.model_dump()}


@dataclass(slots=True)
class Run:
    conversation_id: str
    run_id: str
    macro_id: str
    staff_id: str
    state: str  # running, done, failed (nothing done), partial (the action done, a step not)
    steps: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None


def _macro(row: dict[str, Any]) -> Macro:
    spec = MacroSpec.model_validate({**json.loads(row["steps"]), "name": row["name"],
                                     "title": row["title"]})  # fmt: skip
    return Macro(row["id"], row["workspace_id"], spec)


def _steps(spec: MacroSpec) -> str:
    return json.dumps(spec.model_dump(exclude={"name", "title"}), sort_keys=True)


class MacroStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    async def for_workspaces(self, workspace_ids: list[str]) -> list[Macro]:
        if not workspace_ids:
            return []
        marks = ", ".join("?" for _ in workspace_ids)
        rows = await self.db.fetch(
            f"SELECT * FROM inbox_macros WHERE workspace_id IN ({marks}) ORDER BY name",
            *workspace_ids,
        )
        return [_macro(r) for r in rows]

    async def get(self, macro_id: str) -> Macro:
        row = await self.db.fetchrow("SELECT * FROM inbox_macros WHERE id = ?", macro_id)
        if row is None:
            raise NotFound(f"unknown macro {macro_id!r}")
        return _macro(row)

    async def add(self, workspace_id: str, spec: MacroSpec, staff_id: str) -> Macro:
        macro = Macro(new_id(), workspace_id, spec)
        now = utcnow()
        try:
            await self.db.execute(
                "INSERT INTO inbox_macros (id, workspace_id, name, title, steps, created_by, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                macro.id, workspace_id, spec.name, spec.title, _steps(spec), staff_id, now, now,
            )  # fmt: skip
        except Conflict:
            raise Conflict(f"the name {spec.name!r} is taken", code="name_taken") from None
        return macro

    async def update(self, macro: Macro, spec: MacroSpec) -> Macro:
        try:
            await self.db.execute(
                "UPDATE inbox_macros SET name = ?, title = ?, steps = ?, updated_at = ? "
                "WHERE id = ?",
                spec.name, spec.title, _steps(spec), utcnow(), macro.id,
            )  # fmt: skip
        except Conflict:
            raise Conflict(f"the name {spec.name!r} is taken", code="name_taken") from None
        return Macro(macro.id, macro.workspace_id, spec)

    async def delete(self, macro_id: str) -> None:
        await self.db.execute("DELETE FROM inbox_macros WHERE id = ?", macro_id)

    # -- runs ----------------------------------------------------------------------------
    async def claim_run(
        self, workspace_id: str, conversation_id: str, run_id: str, macro_id: str, staff_id: str
    ) -> Run | None:
        """Start a run: None when it is new (the caller runs it), else the run as it was
        stored by the first request with this run id."""
        try:
            await self.db.execute(
                "INSERT INTO inbox_macro_runs (conversation_id, run_id, workspace_id, macro_id, "
                "staff_id, state, created_at) VALUES (?, ?, ?, ?, ?, 'running', ?)",
                conversation_id, run_id, workspace_id, macro_id, staff_id, utcnow(),
            )  # fmt: skip
        except Conflict:
            return await self.run(conversation_id, run_id)
        return None

    async def run(self, conversation_id: str, run_id: str) -> Run:
        found = await self.find_run(conversation_id, run_id)
        if found is None:
            raise NotFound(f"unknown run {run_id!r}")
        return found

    async def find_run(self, conversation_id: str, run_id: str) -> Run | None:
        row = await self.db.fetchrow(
            "SELECT * FROM inbox_macro_runs WHERE conversation_id = ? AND run_id = ?",
            conversation_id,
            run_id,
        )
        if row is None:
            return None
        return Run(
            row["conversation_id"],
            row["run_id"],
            row["macro_id"],
            row["staff_id"],
            row["state"],
            json.loads(row["result"]).get("steps", []),
            row["created_at"],
        )

    async def finish(self, run: Run) -> None:
        await self.db.execute(
            "UPDATE inbox_macro_runs SET state = ?, result = ?, finished_at = ? "
            "WHERE conversation_id = ? AND run_id = ?",
            run.state,
            json.dumps({"steps": run.steps}),
            utcnow(),
            run.conversation_id,
            run.run_id,
        )
