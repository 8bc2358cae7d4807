"""Background jobs: heavy work a request or start-up asks for and any process may run.

Knowledge ingestion and retraining take seconds to minutes of CPU. The process that asks
for them (a web replica answering an admin, a server starting) only writes a row in the
``jobs`` table (migration 0030) and answers; whichever process runs jobs (``smartsupport
worker``, or ``serve`` unless ``SMARTSUPPORT_JOBS=off``) leases the row and runs it
(``job_runner.py``):

    queued ──claim──> running ──ok──────────> done      (result kept)
       ▲                 │ refused / raised ─> failed    (error kept)
       │                 │ backend unavailable, or the runner was stopped
       └──── released ───┤
       └── lease passed ─┘ (the process died): claimed again, up to MAX_ATTEMPTS claims

Asking is idempotent on ``idempotency_key``: the same key gives the same job, whatever its
state. The runner renews the lease while the job runs (every third of ``LEASE``), so the
lease can be short whatever the job's length, and writes the job's progress with it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartsupport.domain import utcnow
from smartsupport.ids import new_id
from smartsupport.storage.base import SqlExecutor

LEASE = timedelta(seconds=60)  # a killed worker's job is claimed again this long after
MAX_ATTEMPTS = 3  # claims of one job; a job that kills its worker every time fails instead
STATUSES = ("queued", "running", "done", "failed")
KINDS = frozenset(
    {
        "knowledge.ingest",  # a workspace's articles folder (knowledge/ingest_jobs.py)
        "review.retrain",  # retraining from the review queue (review/retrain_jobs.py)
        "analytics.resolution_check",  # the LLM check of resolutions (resolution_checks.py)
    }
)

_COLUMNS = (
    "id, workspace_id, kind, idempotency_key, payload, status, attempts, progress, result, "
    "error, requested_by, locked_until, locked_by, created_at, started_at, finished_at, "
    "updated_at"
)


@dataclass(slots=True)
class Job:
    id: str
    workspace_id: str
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    requested_by: str | None
    locked_until: datetime | None
    locked_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    def as_json(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": self.id,
            "workspace_id": self.workspace_id,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "requested_by": self.requested_by,
            "worker": self.locked_by if self.status == "running" else None,
            "created_at": when(self.created_at),
            "started_at": when(self.started_at),
            "finished_at": when(self.finished_at),
            "updated_at": when(self.updated_at),
        }


def _job(row: dict[str, Any]) -> Job:
    return Job(**row)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(sorted(KINDS))}")


async def enqueue(
    db: SqlExecutor,
    workspace_id: str,
    kind: str,
    key: str,
    payload: dict[str, Any] | None = None,
    *,
    requested_by: str | None = None,
    now: datetime | None = None,
) -> tuple[Job, bool]:
    """The job under ``key``, added as queued unless it exists: (job, whether added now)."""
    check_kind(kind)
    now = now or utcnow()
    added = await db.execute(
        "INSERT INTO jobs (id, workspace_id, kind, idempotency_key, payload, status, attempts, "
        "requested_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?) "
        "ON CONFLICT (idempotency_key) DO NOTHING",
        new_id(), workspace_id, kind, key, payload or {}, requested_by, now, now,
    )  # fmt: skip
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE idempotency_key = ?", key)
    assert row is not None, "a job row is never deleted"
    return _job(row), bool(added)


async def get(db: SqlExecutor, job_id: str) -> Job | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", job_id)
    return _job(row) if row else None


async def list_jobs(db: SqlExecutor, workspace_id: str, *, limit: int = 50) -> list[Job]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM jobs WHERE workspace_id = ? ORDER BY created_at DESC LIMIT ?",
        workspace_id,
        limit,
    )
    return [_job(r) for r in rows]


async def claim(
    db: SqlExecutor,
    worker: str,
    *,
    kinds: frozenset[str] = KINDS,
    job_id: str | None = None,
    now: datetime | None = None,
) -> Job | None:
    """Lease the oldest job that is queued or whose runner's lease has passed (``job_id``:
    that job only); None when there is none or other runners took them first."""
    now = now or utcnow()
    where = "(status = 'queued' OR (status = 'running' AND locked_until < ?))"
    args: list[Any] = [now]
    if job_id is not None:
        where += " AND id = ?"
        args.append(job_id)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY created_at LIMIT 10", *args
    )
    for row in rows:
        job = _job(row)
        if job.kind not in kinds:
            continue
        if job.status == "running" and job.attempts >= MAX_ATTEMPTS:
            await db.execute(
                f"UPDATE jobs SET status = 'failed', error = ?, locked_until = NULL, "
                f"finished_at = ?, updated_at = ? WHERE id = ? AND {where}",
                f"stopped with its worker {job.attempts} times (killed, or out of memory?); "
                "not tried again",
                now, now, job.id, *args,
            )  # fmt: skip
            continue
        claimed = await db.execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = ?, "
            "locked_by = ?, error = NULL, started_at = coalesce(started_at, ?), updated_at = ? "
            f"WHERE id = ? AND {where}",
            now + LEASE, worker, now, now, job.id, *args,
        )  # fmt: skip
        if claimed:
            return await get(db, job.id)
    return None


async def renew(
    db: SqlExecutor, job: Job, worker: str, progress: dict[str, Any] | None = None
) -> bool:
    """Extend the lease (and record ``progress``); False when the job is no longer ours."""
    now = utcnow()
    kept = await db.execute(
        "UPDATE jobs SET locked_until = ?, progress = coalesce(?, progress), updated_at = ? "
        "WHERE id = ? AND status = 'running' AND locked_by = ?",
        now + LEASE, progress, now, job.id, worker,
    )  # fmt: skip
    return bool(kept)


async def finish(
    db: SqlExecutor,
    job: Job,
    worker: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    progress: dict[str, Any] | None = None,
) -> bool:
    """Done with ``result``, or failed with ``error``; False when the job is no longer ours
    (its lease passed and another runner took it)."""
    now = utcnow()
    changed = await db.execute(
        "UPDATE jobs SET status = ?, result = ?, error = ?, progress = coalesce(?, progress), "
        "locked_until = NULL, finished_at = ?, updated_at = ? "
        "WHERE id = ? AND status = 'running' AND locked_by = ?",
        "failed" if error is not None else "done", result, None if error is None else error[:4000],
        progress, now, now, job.id, worker,
    )  # fmt: skip
    return bool(changed)


async def release(db: SqlExecutor, job: Job, worker: str, reason: str) -> bool:
    """Back to queued at once (a backend was unavailable, the runner is stopping): another
    runner, or this one later, takes it again. The claim still counts as an attempt."""
    changed = await db.execute(
        "UPDATE jobs SET status = 'queued', locked_until = NULL, locked_by = NULL, error = ?, "
        "updated_at = ? WHERE id = ? AND status = 'running' AND locked_by = ?",
        reason[:4000], utcnow(), job.id, worker,
    )  # fmt: skip
    return bool(changed)


async def retry(db: SqlExecutor, job: Job) -> Job:
    """A failed job queued again with its attempts reset (a server starting retries its
    failed start-up ingest); any other job is returned as it is."""
    await db.execute(
        "UPDATE jobs SET status = 'queued', attempts = 0, locked_until = NULL, "
        "locked_by = NULL, finished_at = NULL, updated_at = ? WHERE id = ? AND status = 'failed'",
        utcnow(), job.id,
    )  # fmt: skip
    found = await get(db, job.id)
    assert found is not None
    return found


async def wait(db: SqlExecutor, job_id: str, within: float, *, poll: float = 0.25) -> Job:
    """The job once it is finished, or as it is after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        job = await get(db, job_id)
        if job is None:
            raise LookupError(f"no job {job_id!r}")
        if job.finished or time.monotonic() >= deadline:
            return job
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
