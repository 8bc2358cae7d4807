"""Retraining from the review queue as a background job (``jobs.py``).

    job, added = await ask(services, workspace, actor=..., staff_id=..., shadow=False)
    result = await run(services, job, progress)        the ``review.retrain`` handler

Asking checks at once that there is something to learn from (a 400 then, not a failed job)
and names the job after what it would learn from (``retrain.ready``): asking again before
anything changed gives the same job. The run trains, evaluates and deploys in the process
that leased it (``retrain.retrain``), writes the audit entry, and announces the outcome on
the backplane (``live.MODELS_CHANNEL``): every serving process puts a deployed model in place
at once (``LiveReview.follow``), and forgets its cached shadow model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smartsupport import audit, jobs
from smartsupport.errors import Conflict
from smartsupport.jobs import Job
from smartsupport.nlu.engine import NluEngine
from smartsupport.review import retrain
from smartsupport.review.live import MODELS_CHANNEL
from smartsupport.services import Services
from smartsupport.workspaces import WorkspaceConfig

KIND = "review.retrain"


def engine_of(services: Services) -> NluEngine:
    engine = getattr(services.assistant, "nlu", None)
    if not isinstance(engine, NluEngine):
        raise Conflict("this process runs without the intent model; retraining needs it")
    return engine


def models_dir(services: Services) -> Path:
    settings = services.settings
    return settings.models_dir or settings.data_dir / "models"


async def ask(
    services: Services,
    workspace: WorkspaceConfig,
    *,
    actor: str,
    staff_id: str | None,
    shadow: bool = False,
    key: str | None = None,
) -> tuple[Job, bool]:
    """The retraining job of what the workspace's decisions are now (``key``: the caller's
    own idempotency key): (job, whether it was added now)."""
    learns_from = await retrain.ready(services.store, workspace)
    name = f"key:{key}" if key is not None else f"{learns_from}:{'shadow' if shadow else 'live'}"
    return await jobs.enqueue(
        services.store,  # type: ignore[arg-type]
        workspace.id,
        KIND,
        f"{KIND}:{workspace.id}:{name}",
        {"shadow": shadow, "staff_id": staff_id},
        requested_by=actor,
    )


async def run(services: Services, job: Job, progress: Any) -> dict[str, Any]:
    """The ``review.retrain`` handler of ``job_runner``."""
    workspace = services.workspace(job.workspace_id)
    progress({"step": "training and evaluating"})
    record = await retrain.retrain(
        services.store, workspace, engine_of(services), models_dir(services),
        staff_id=job.payload.get("staff_id"), shadow=bool(job.payload.get("shadow")),
    )  # fmt: skip
    await audit.record(
        services.store, "review.retrained", actor=job.requested_by or "job",
        target=f"model:{record.id}", workspace_id=workspace.id,
        details={"status": record.status, "reason": record.reason, "job": job.id},
    )  # fmt: skip
    await services.backplane.publish(
        MODELS_CHANNEL, {"workspace": workspace.id, "model": record.id, "status": record.status}
    )
    return {"model": record.as_json()}
