"""The outbox: calls to helpdesks and chat services that must happen, even if they are down.

Work is a row in the ``outbox`` table (migration 0005) before anything is sent, written in
the same transaction as the change that needs it. A worker task per server process
(``start(services)`` from the app lifespan, ``stop(task)`` on shutdown) claims due rows and
runs the handler of their ``kind``:

    pending ──ok──────────────────────────────> done     (result kept: the ticket id, ...)
       │ retryable failure (5xx, 429, timeout)
       ├──> pending again after exponential backoff with jitter, or after Retry-After
       │ refused (other 4xx) or older than outbox_max_age_hours
       └──> dead   kept for admins (``list_entries``), ``requeue`` sends it again

Nothing is dropped: rows are never deleted by the worker, a crashed worker's claim expires
(``LEASE``) and another process takes the row over, and restarts simply resume. Enqueueing
is idempotent on ``idempotency_key``; handlers that create things remotely (tickets) look
for the thing under that key before creating it again, so a retry after a lost response
never makes a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request

from smartsupport.domain import utcnow
from smartsupport.errors import DeliveryError, NotFound, SmartsupportError
from smartsupport.ids import new_id
from smartsupport.storage.base import SqlExecutor

if TYPE_CHECKING:
    from smartsupport.services import Services

log = logging.getLogger(__name__)

BASE_DELAY = 2.0  # seconds before the first retry
MAX_DELAY = 600.0  # backoff cap: a helpdesk down for an hour is retried every ~10 minutes
LEASE = timedelta(seconds=120)  # how long a claim protects a row from other workers
BATCH = 20

# kind -> "module:function" taking (services, entry) and returning a JSON-able result.
# Imported lazily so this module stays free of helpdesk and chat code.
HANDLERS: dict[str, str] = {
    "ticket.create": "smartsupport.helpdesk.tickets:deliver_ticket",
    "ticket.batch": "smartsupport.helpdesk.tickets:deliver_batch",
    "ticket.note": "smartsupport.helpdesk.tickets:deliver_note",
    "notify.slack": "smartsupport.notify:deliver_slack",
    "notify.teams": "smartsupport.notify:deliver_teams",
}

Handler = Callable[["Services", "Entry"], Awaitable[dict[str, Any]]]


@dataclass(slots=True)
class Entry:
    id: str
    workspace_id: str
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


def _entry(row: dict[str, Any]) -> Entry:
    return Entry(
        id=row["id"],
        workspace_id=row["workspace_id"],
        kind=row["kind"],
        idempotency_key=row["idempotency_key"],
        payload=row["payload"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        result=row["result"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_COLUMNS = (
    "id, workspace_id, kind, idempotency_key, payload, status, attempts, next_attempt_at, "
    "last_error, result, created_at, updated_at"
)


async def enqueue(
    db: SqlExecutor,
    workspace_id: str,
    kind: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str,
    not_before: datetime | None = None,
    now: datetime | None = None,
) -> bool:
    """Add work (inside the caller's transaction when ``db`` is one). Returns False when
    work with this key already exists: enqueueing is idempotent."""
    if kind not in HANDLERS:
        raise ValueError(f"unknown outbox kind {kind!r}; known: {', '.join(sorted(HANDLERS))}")
    now = now or utcnow()
    # ON CONFLICT rather than catching the error: inside a PostgreSQL transaction a unique
    # violation would abort the caller's whole transaction.
    added = await db.execute(
        "INSERT INTO outbox (id, workspace_id, kind, idempotency_key, payload, status, "
        "attempts, next_attempt_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
        new_id(),
        workspace_id,
        kind,
        idempotency_key,
        payload,
        not_before or now,
        now,
        now,
    )
    if not added:
        return False
    _wake()
    return True


async def get(db: SqlExecutor, entry_id: str) -> Entry | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", entry_id)
    return _entry(row) if row else None


async def list_entries(
    db: SqlExecutor,
    *,
    status: str | None = None,
    workspace_id: str | None = None,
    limit: int = 100,
) -> list[Entry]:
    """Entries for the admin view, newest first (``status='dead'``: the dead letters)."""
    where, args = [], []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if workspace_id is not None:
        where.append("workspace_id = ?")
        args.append(workspace_id)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM outbox {clause} ORDER BY created_at DESC LIMIT ?", *args, limit
    )
    return [_entry(r) for r in rows]


async def requeue(db: SqlExecutor, entry_id: str, *, now: datetime | None = None) -> None:
    """Send a dead (or pending) entry again now; its attempt count and age start over."""
    now = now or utcnow()
    changed = await db.execute(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
        "locked_until = NULL, created_at = ?, updated_at = ? WHERE id = ? AND status <> 'done'",
        now,
        now,
        now,
        entry_id,
    )
    if not changed:
        raise NotFound(f"no pending or dead outbox entry {entry_id!r}")
    _wake()


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed tries: exponential with full jitter over
    the upper half (so a fleet of workers does not retry in lock step), capped, and never
    sooner than the service's ``Retry-After``."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay if attempts > 3 else 0.0, retry_after) + random.uniform(0, 1)
    return delay


async def run_due(
    services: Services,
    *,
    now: datetime | None = None,
    worker: str = "worker",
    limit: int = BATCH,
) -> int:
    """Claim and run the entries due at ``now``; return how many were attempted. The worker
    loop calls it; tests call it with a simulated clock."""
    db = services.store
    now = now or utcnow()
    rows = await db.fetch(  # type: ignore[attr-defined]
        "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? "
        "AND (locked_until IS NULL OR locked_until < ?) ORDER BY next_attempt_at LIMIT ?",
        now,
        now,
        limit,
    )
    attempted = 0
    for row in rows:
        claimed = await db.execute(  # type: ignore[attr-defined]
            "UPDATE outbox SET locked_until = ?, locked_by = ? WHERE id = ? "
            "AND status = 'pending' AND (locked_until IS NULL OR locked_until < ?)",
            now + LEASE,
            worker,
            row["id"],
            now,
        )
        if not claimed:
            continue  # another worker took it
        entry = await get(db, row["id"])  # type: ignore[arg-type]
        if entry is None:
            continue
        attempted += 1
        await _attempt(services, entry, now)
    return attempted


async def _attempt(services: Services, entry: Entry, now: datetime) -> None:
    db = services.store
    max_age = timedelta(hours=services.settings.outbox_max_age_hours)
    try:
        result = await _handler(entry.kind)(services, entry)
    except DeliveryError as exc:
        retryable, retry_after, error = exc.retryable, exc.retry_after, str(exc)
    except SmartsupportError as exc:  # e.g. the store was briefly unavailable
        retryable, retry_after, error = True, None, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a handler bug must not lose the entry
        log.exception("outbox %s %s failed unexpectedly", entry.kind, entry.id)
        retryable, retry_after, error = True, None, f"{type(exc).__name__}: {exc}"
    else:
        await db.execute(  # type: ignore[attr-defined]
            "UPDATE outbox SET status = 'done', attempts = attempts + 1, result = ?, "
            "locked_until = NULL, last_error = NULL, updated_at = ? WHERE id = ?",
            result,
            utcnow(),
            entry.id,
        )
        return
    attempts = entry.attempts + 1
    if not retryable or now - entry.created_at >= max_age:
        log.error(
            "outbox %s %s is dead after %d attempt(s): %s", entry.kind, entry.id, attempts, error
        )
        status, due = "dead", now
    else:
        status, due = "pending", now + timedelta(seconds=backoff(attempts, retry_after))
        log.warning(
            "outbox %s %s attempt %d failed (%s); next at %s",
            entry.kind,
            entry.id,
            attempts,
            error,
            due.isoformat(),
        )
    await db.execute(  # type: ignore[attr-defined]
        "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, locked_until = NULL, "
        "last_error = ?, updated_at = ? WHERE id = ?",
        status,
        attempts,
        due,
        error[:2000],
        utcnow(),
        entry.id,
    )


def _handler(kind: str) -> Handler:
    target = HANDLERS.get(kind)
    if target is None:
        raise DeliveryError(f"no handler for outbox kind {kind!r}", retryable=False)
    module, _, name = target.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


# -- the worker task -------------------------------------------------------------------

_wakeups: set[asyncio.Event] = set()


def _wake() -> None:
    for event in _wakeups:
        event.set()


def start(services: Services) -> asyncio.Task[None]:
    """Start this process's worker; the app lifespan keeps the task and passes it to
    ``stop`` on shutdown. It also opens the offline/overflow sweep (escalation.offline)."""
    from smartsupport.escalation.config import check_workspaces

    # A broken escalation.yaml or a missing secret stops start-up with the fix named.
    check_workspaces(services.workspaces.values(), services.settings)
    return asyncio.create_task(_loop(services), name="smartsupport-outbox")


async def stop(task: asyncio.Task[None]) -> None:
    """Stop the worker; an entry in flight is finished or, if cancelled, retried later."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _loop(services: Services) -> None:
    from smartsupport.escalation.offline import sweep_overflow

    wake = asyncio.Event()
    _wakeups.add(wake)
    worker = f"w-{new_id()[:8]}"
    try:
        while True:
            try:
                while await run_due(services, worker=worker) >= BATCH:
                    pass
                await sweep_overflow(services)
            except SmartsupportError as exc:
                log.warning("outbox pass failed, retrying: %s", exc)
            except Exception:  # noqa: BLE001 - the worker must outlive any one bad pass
                log.exception("outbox pass failed unexpectedly")
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), services.settings.outbox_poll_seconds)
    finally:
        _wakeups.discard(wake)


# -- the admin view ----------------------------------------------------------------------


def admin_router(require_admin: Callable[..., Any]) -> APIRouter:
    """Routes for admins: list entries (``?status=dead`` for the dead letters) and requeue
    one, only ever for the admin's own workspaces. ``require_admin`` is the staff-auth
    dependency that guards them; this module does not know how staff log in."""
    from smartsupport.staff import require_workspace, verify_csrf

    router = APIRouter(prefix="/api/v1/admin/outbox", tags=["admin"])

    @router.get("")
    async def list_outbox(
        request: Request,
        user: Any = Depends(require_admin),  # noqa: B008 - FastAPI's way
        status: str | None = Query(default=None, pattern="^(pending|done|dead)$"),
        workspace: str | None = Query(default=None, max_length=64),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        """Outbox entries of the admin's workspaces, newest first; ``status=dead`` lists
        what needs an admin."""
        db = request.app.state.services.store
        if workspace is not None:
            require_workspace(user, workspace)
        entries: list[Entry] = []
        for ws in [workspace] if workspace else list(user.workspaces):
            entries += await list_entries(db, status=status, workspace_id=ws, limit=limit)
        entries.sort(key=lambda e: e.created_at, reverse=True)
        return [
            {
                "id": e.id,
                "workspace": e.workspace_id,
                "kind": e.kind,
                "status": e.status,
                "attempts": e.attempts,
                "next_attempt_at": e.next_attempt_at.isoformat(),
                "last_error": e.last_error,
                "result": e.result,
                "created_at": e.created_at.isoformat(),
            }
            for e in entries[:limit]
        ]

    @router.post("/{entry_id}/requeue", status_code=202, dependencies=[Depends(verify_csrf)])
    async def requeue_entry(
        entry_id: str,
        request: Request,
        user: Any = Depends(require_admin),  # noqa: B008 - FastAPI's way
    ) -> dict[str, str]:
        """Send a dead (or waiting) entry again now."""
        db = request.app.state.services.store
        entry = await get(db, entry_id)
        if entry is None:
            raise NotFound(f"no outbox entry {entry_id!r}")
        require_workspace(user, entry.workspace_id)
        await requeue(db, entry_id)
        return {"id": entry_id, "status": "pending"}

    return router
