"""Ingesting a workspace's ``articles/`` folder as a background job (``jobs.py``).

    job, added = await ask(services, workspace_id)     a request (the admin API) or start-up
    result = await run(services, job, progress)        the ``knowledge.ingest`` handler
    await at_start(services, kb, workspace_id)         start-up: ask, and run it here now
                                                       when this process runs jobs

The job's key is the folder's fingerprint (every file's path and content), unless the caller
gives its own: asking again for a folder that has not changed gives the job that already
ingested it, and a server restarting on an unchanged folder ingests nothing. Every process
notices the new articles by itself: the run bumps the workspace's index version, which each
process's ``KnowledgeBase`` checks before a search (at most every ``recheck_seconds``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from smartsupport import jobs
from smartsupport.errors import InvalidInput, NotFound
from smartsupport.job_runner import JobRunner
from smartsupport.jobs import Job
from smartsupport.knowledge.ingest import IngestReport
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.services import Services
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger(__name__)

KIND = "knowledge.ingest"


def fingerprint(folder: Path) -> str:
    """A hash of every file under ``folder``: its path relative to the folder and its bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def knowledge_of(services: Services) -> KnowledgeBase:
    """This process's knowledge base: the assistant's, so its index changes in place."""
    found = getattr(services.assistant, "knowledge", None)
    if isinstance(found, KnowledgeBase):
        return found
    return KnowledgeBase(services.store)  # type: ignore[arg-type]


def _folder(services: Services, workspace_id: str) -> tuple[WorkspaceConfig, Path]:
    workspace = services.workspaces.get(workspace_id)
    if workspace is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    if workspace.articles_dir is None:
        raise InvalidInput(
            f"workspace {workspace_id!r} has no articles/ folder to ingest; add articles "
            "one by one (POST .../articles) or create the folder"
        )
    return workspace, Path(workspace.articles_dir)


async def ask(
    services: Services,
    workspace_id: str,
    *,
    key: str | None = None,
    requested_by: str | None = None,
) -> tuple[Job, bool]:
    """The ingest job of the workspace's folder as it is now (``key``: the caller's own
    idempotency key): (job, whether it was added now)."""
    _, folder = _folder(services, workspace_id)
    if key is None:
        key = f"{KIND}:{workspace_id}:{await asyncio.to_thread(fingerprint, folder)}"
    else:
        key = f"{KIND}:{workspace_id}:key:{key}"
    return await jobs.enqueue(
        services.store,  # type: ignore[arg-type]
        workspace_id,
        KIND,
        key,
        {"folder": str(folder)},
        requested_by=requested_by,
    )


async def ingest_folder(
    kb: KnowledgeBase, services: Services, job: Job, progress: Any
) -> dict[str, Any]:
    """Ingest the job's workspace folder, as this process sees it, into ``kb``."""
    _, folder = _folder(services, job.workspace_id)

    def files(done: int, total: int, path: str) -> None:
        progress({"files_done": done, "files": total, "file": Path(path).name})

    report = await kb.ingest(job.workspace_id, [folder], progress=files)
    return _report(report)


async def run(services: Services, job: Job, progress: Any) -> dict[str, Any]:
    """The ``knowledge.ingest`` handler of ``job_runner``."""
    return await ingest_folder(knowledge_of(services), services, job, progress)


async def at_start(services: Services, kb: KnowledgeBase, workspace_id: str) -> None:
    """Start-up's ingest of the folder, as a job. A process that runs jobs runs it now,
    before serving, so the embedded default answers from its articles from the first turn;
    with ``SMARTSUPPORT_JOBS=off`` it stays queued for a worker, and this process loads the
    articles once the worker has stored them."""
    job, _ = await ask(services, workspace_id)
    job = await jobs.retry(services.store, job)  # type: ignore[arg-type]
    if job.status == "done":
        log.info("knowledge base of %s: folder unchanged since job %s", workspace_id, job.id)
        return
    if not services.settings.jobs:
        log.info("knowledge base of %s: job %s queued for a worker", workspace_id, job.id)
        return
    runner = JobRunner(
        services, {KIND: functools.partial(ingest_folder, kb)}, f"start-{os.getpid()}"
    )
    ended = await runner.run_next(job.id)
    if ended is None:
        log.info("knowledge base of %s: job %s runs in another process", workspace_id, job.id)
    elif ended.status == "done" and ended.result is not None:
        log.info("knowledge base of %s: %s", workspace_id, ended.result["summary"])
    else:
        log.error("knowledge base of %s: job %s %s: %s", workspace_id, job.id, ended.status,
                  ended.error)  # fmt: skip


def _report(report: IngestReport) -> dict[str, Any]:
    return {
        "files": report.files,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "passages": report.passages,
        "seconds": round(report.seconds, 3),
        "errors": [str(e) for e in report.errors],
        "skipped": report.skipped,
        "summary": report.summary(),
    }
