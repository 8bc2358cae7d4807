"""The outbox: calls to helpdesks and chat services that must happen, even if they are down.

Work is a row in the ``outbox`` table (migration 0005) before anything is sent, written in
the same transaction as the change that needs it (a customer turn writes its items with
``store.record_turn``; others call ``enqueue``). The background worker (``worker.py``) calls
``run_due``, which claims due rows and runs the handler of their ``kind`` from
``services.outbox_handlers`` (filled by the wiring, so this module knows no helpdesk or chat
code):

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

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartsupport import remote
from smartsupport.domain import OutboxItem, utcnow
from smartsupport.errors import DeliveryError, NotFound, SmartsupportError
from smartsupport.ids import new_id
from smartsupport.services import OutboxHandler, Services
from smartsupport.storage.base import OUTBOX_INSERT, SqlExecutor, outbox_row

log = logging.getLogger(__name__)

BASE_DELAY = 2.0  # seconds before the first retry
MAX_DELAY = 600.0  # backoff cap: a helpdesk down for an hour is retried every ~10 minutes
LEASE = timedelta(seconds=120)  # how long a claim protects a row from other workers
BATCH = 20

# The kinds of work; the wiring maps each to its handler (services.outbox_handlers).
KINDS = frozenset(
    {"ticket.create", "ticket.batch", "ticket.note", "notify.slack", "notify.teams"}
    | {"event.publish"}  # events for data teams (events/delivery.py)
    | {"ticket.batch_join"}  # a low-confidence turn joins its window's batch ticket
    | {"email.send"}  # a reply mail (channels/email.py)
    | {"whatsapp.send", "twilio.send", "api.webhook"}  # messaging channels (channels/)
    | {"proactive.send"}  # a scheduled proactive message (proactive.py)
    | {"media.fetch"}  # a customer's file fetched again (channels/media_retry.py)
)


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


def _entry(db: SqlExecutor, row: dict[str, Any]) -> Entry:
    row = db.fields.open_row("outbox", row)  # the payload may be sealed (storage/fields.py)
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


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}; known: {', '.join(sorted(KINDS))}")


async def enqueue(
    db: SqlExecutor, workspace_id: str, item: OutboxItem, *, now: datetime | None = None
) -> bool:
    """Add work (inside the caller's transaction when ``db`` is one). Returns False when
    work with this key already exists: enqueueing is idempotent. The caller sets
    ``services.outbox_due`` after its commit so this process's worker looks at once."""
    check_kind(item.kind)
    now = now or utcnow()
    sealed = db.fields.sealed_outbox(item)
    added = await db.execute(OUTBOX_INSERT, *outbox_row(new_id(), workspace_id, sealed, now))
    return bool(added)


async def get(db: SqlExecutor, entry_id: str) -> Entry | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", entry_id)
    return _entry(db, row) if row else None


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
    return [_entry(db, r) for r in rows]


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


async def cancel(
    db: SqlExecutor, entry_id: str, result: dict[str, Any], *, now: datetime | None = None
) -> bool:
    """Finish a pending entry without running it, ``result`` saying why; False when it is
    done, dead or held by a worker right now (it may be going out: too late to stop)."""
    now = now or utcnow()
    row = await db.fetchrow("SELECT idempotency_key FROM outbox WHERE id = ?", entry_id)
    if row is None:
        return False
    changed = await db.execute(
        "UPDATE outbox SET status = 'done', result = ?, updated_at = ? WHERE id = ? "
        "AND status = 'pending' AND (locked_until IS NULL OR locked_until < ?)",
        db.fields.seal("outbox", "result", row["idempotency_key"], result),
        now,
        entry_id,
        now,
    )
    return bool(changed)


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed tries: the shared ``remote.backoff`` with
    the outbox's own base and cap (never sooner than the service's ``Retry-After``)."""
    return remote.backoff(attempts, retry_after, base=BASE_DELAY, cap=MAX_DELAY)


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
        result = await _handler(services, entry.kind)(services, entry)
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
            db.fields.seal("outbox", "result", entry.idempotency_key, result),  # type: ignore[attr-defined]
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
        db.fields.seal("outbox", "last_error", entry.idempotency_key, error[:2000]),  # type: ignore[attr-defined]
        utcnow(),
        entry.id,
    )


def _handler(services: Services, kind: str) -> OutboxHandler:
    handler = services.outbox_handlers.get(kind)
    if handler is None:
        raise DeliveryError(f"no handler for outbox kind {kind!r}", retryable=False)
    return handler
