"""A background job as the API shows it (``jobs.py``): the answer of a request that started
one (202, with a status URL in ``Location``) and of that status URL.

A queued job says whether anything is there to run it: with ``SMARTSUPPORT_JOBS=off`` on
this server and no ``smartsupport worker`` seen lately, the job waits, and ``note`` says so
and how to fix it, rather than leaving the caller to guess.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from smartsupport.job_runner import ALIVE_SECONDS, runner_alive
from smartsupport.jobs import Job
from smartsupport.services import Services


class JobOut(BaseModel):
    """A background job: queued, running, done (with its result) or failed (with why)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    workspace_id: str
    kind: str = Field(description="knowledge.ingest or review.retrain")
    status: str = Field(description="queued, running, done or failed")
    attempts: int = Field(description="How many times a process has taken it.")
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    requested_by: str | None
    worker: str | None = Field(description="The process running it, while it runs.")
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    updated_at: str | None
    status_url: str
    note: str = Field(description="What happens next, in words.")


async def job_out(services: Services, job: Job, status_url: str) -> JobOut:
    return JobOut(**job.as_json(), status_url=status_url, note=await _note(services, job))


async def accepted(services: Services, job: Job, status_url: str) -> JSONResponse:
    """202 with the job and its status URL (also in ``Location``)."""
    body = await job_out(services, job, status_url)
    return JSONResponse(body.model_dump(mode="json"), 202, headers={"Location": status_url})


async def _note(services: Services, job: Job) -> str:
    if job.status == "done":
        return "done"
    if job.status == "failed":
        return "failed; ask again once the cause is fixed"
    if job.status == "running":
        return f"running in {job.locked_by} (attempt {job.attempts})"
    runner = await runner_alive(services)
    if runner is not None:
        return f"queued; a job runner ({runner}) takes it in turn"
    if not services.settings.jobs:
        return (
            "queued, and nothing runs it yet: this server leaves background jobs to "
            "workers (SMARTSUPPORT_JOBS=off) and no `smartsupport worker` was seen in the "
            f"last {ALIVE_SECONDS:g} s; start one. The job waits, it is not lost"
        )
    return "queued; this server runs background jobs and takes it within seconds"
