"""What a reviewer does, for the JSON API (api.py) and the inbox page (page.py) alike: each
action checks the workspace, runs the library function, tells this process's live parts to
read again, and leaves an entry in the audit log (``staff/audited.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request

from smartsupport.dialogue.manager import DialogueManager
from smartsupport.errors import Conflict, NotFound
from smartsupport.jobs import Job
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.nlu.engine import NluEngine
from smartsupport.review import bootstrap, experiments, retrain_jobs
from smartsupport.review.decisions import Cluster, decide, known_intents, review_queue
from smartsupport.review.live import LiveReview
from smartsupport.review.store import ReviewStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser, audited, require_workspace
from smartsupport.workspaces import WorkspaceConfig


@dataclass
class ReviewContext:
    """What the review features need from the running app, for one workspace."""

    services: Services
    workspace: WorkspaceConfig
    user: StaffUser

    @classmethod
    def of(cls, request: Request, user: StaffUser, workspace_id: str) -> ReviewContext:
        require_workspace(user, workspace_id)
        services: Services = request.app.state.services
        return cls(services, services.workspace(workspace_id), user)

    @property
    def store(self) -> object:
        return self.services.store

    @property
    def engine(self) -> NluEngine:
        engine = getattr(self.services.assistant, "nlu", None)
        if not isinstance(engine, NluEngine):
            raise Conflict("this server runs without the intent model; retraining needs it")
        return engine

    @property
    def knowledge(self) -> KnowledgeBase:
        found = getattr(self.services.assistant, "knowledge", None)
        if isinstance(found, KnowledgeBase):
            return found
        return KnowledgeBase(self.services.store)  # type: ignore[arg-type]

    @property
    def models_dir(self) -> Path:
        settings = self.services.settings
        return settings.models_dir or settings.data_dir / "models"

    def forget(self) -> None:
        """This process changed an experiment or the shadow model: read them again now."""
        live = getattr(self.services.assistant, "live", None)
        if isinstance(live, LiveReview):
            live.experiments.forget(self.workspace.id)
            live.shadow.forget(self.workspace.id)

    async def audit(self, name: str, target: str, **details: Any) -> None:
        await audited.action(
            self.services.store, name, by=self.user, target=target,
            workspace_id=self.workspace.id, details=details,
        )  # fmt: skip

    async def intents(self) -> list[str]:
        return await known_intents(self.store, self.workspace)

    def flows(self) -> list[str]:
        """The workspace's flows as this server runs them (none without the assistant)."""
        dialogue = getattr(self.services.assistant, "dialogue", None)
        engine = (
            dialogue.engines.get(self.workspace.id)
            if isinstance(dialogue, DialogueManager)
            else None
        )
        return list(engine.config.flows) if engine is not None else []

    def flow_of_intent(self, intent: str) -> str | None:
        dialogue = getattr(self.services.assistant, "dialogue", None)
        if not isinstance(dialogue, DialogueManager):
            return None
        return dialogue.flow_of_intent(self.workspace.id, intent)

    # -- the queue and retraining --------------------------------------------------------------
    async def queue(self, days: int) -> list[Cluster]:
        return await review_queue(
            self.store,
            self.workspace,
            days=days,
            low_confidence=self.services.settings.review_low_confidence,
        )

    async def decide(self, message_ids: list[str], action: str, intent: str | None) -> int:
        n = await decide(
            self.store, self.workspace, message_ids, action, intent=intent, staff_id=self.user.id
        )
        await self.audit("review.decided", f"intent:{intent or '-'}", action=action, messages=n)
        return n

    async def retrain(self, shadow_only: bool = False, key: str | None = None) -> Job:
        """Ask for a retraining (a job, review/retrain_jobs.py); the job audits its outcome."""
        self.engine  # noqa: B018 - a server without the intent model refuses now, not later
        job, added = await retrain_jobs.ask(
            self.services, self.workspace, actor=audited.actor(self.user),
            staff_id=self.user.id, shadow=shadow_only, key=key,
        )  # fmt: skip
        if added:
            await self.audit("review.retrain_requested", f"job:{job.id}", shadow=shadow_only)
        return job

    async def set_shadow(self, model_id: str | None) -> None:
        review = ReviewStore(self.store)
        if model_id is not None:
            found = await review.model(self.workspace.id, model_id)
            if found is None:
                raise NotFound(f"no retrained model {model_id!r} in {self.workspace.id!r}")
            if found.status in ("deployed", "retired"):
                raise Conflict(f"model {model_id!r} is {found.status}; shadow a candidate instead")
        await review.set_shadow(self.workspace.id, model_id)
        self.forget()
        await self.audit(
            "review.shadow_started" if model_id else "review.shadow_stopped",
            f"model:{model_id or '-'}",
        )

    # -- bootstrap -----------------------------------------------------------------------------
    async def import_history(self, name: str, data: bytes) -> dict[str, Any]:
        report = await bootstrap.import_history(self.store, self.workspace, name, data)
        await self.audit("review.imported", f"file:{name}", **report)
        return report

    async def accept(
        self, suggestion_id: str, name: str | None = None, answer: str | None = None
    ) -> dict[str, Any]:
        written = await bootstrap.accept(
            self.store, self.workspace, suggestion_id, self.knowledge,
            name=name, answer=answer, staff_id=self.user.id,
        )  # fmt: skip
        await self.audit("review.suggestion_accepted", f"suggestion:{suggestion_id}", **written)
        return written

    async def reject(self, suggestion_id: str) -> None:
        await bootstrap.reject(self.store, self.workspace.id, suggestion_id, self.user.id)
        await self.audit("review.suggestion_rejected", f"suggestion:{suggestion_id}")

    # -- experiments -----------------------------------------------------------------------------
    async def start_experiment(
        self, name: str, intent: str, variants: list[experiments.Variant]
    ) -> experiments.Experiment:
        created = await experiments.create(
            self.store, self.workspace.id, name, intent, variants,
            known_intents=await self.intents(), known_flows=self.flows(),
            intent_flow=self.flow_of_intent(intent), staff_id=self.user.id,
        )  # fmt: skip
        self.forget()
        await self.audit("review.experiment_started", f"experiment:{created.id}", intent=intent)
        return created

    async def promote(self, experiment_id: str, variant: str) -> experiments.Experiment:
        done = await experiments.promote(self.store, self.workspace.id, experiment_id, variant)
        self.forget()
        await self.audit(
            "review.experiment_promoted", f"experiment:{experiment_id}", variant=variant
        )
        return done

    async def stop(self, experiment_id: str) -> experiments.Experiment:
        done = await experiments.stop(self.store, self.workspace.id, experiment_id)
        self.forget()
        await self.audit("review.experiment_stopped", f"experiment:{experiment_id}")
        return done
