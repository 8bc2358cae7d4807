"""The retention purge: data older than its workspace's retention is deleted.

    purge(services, dry_run=False)   one pass over every loaded workspace; returns what was
                                     (or, dry, would be) deleted

Per workspace (``data_policy``: the workspace's ``privacy.retention``, else
``SMARTSUPPORT_RETENTION_DAYS``, else 90 / 365 / 30 days):

- **conversations** idle longer than their retention are deleted with everything about them
  (``customer_data.delete_conversations``: messages, notes, ratings, consents, outbox work,
  ticket mappings, cached context); their events are kept only anonymised. A customer left
  with no conversation, and older than the same limit, is deleted too.
- **analytics**: anonymised events (no conversation any more) older than their retention.
- **outbox**: finished and dead outbox entries (their payloads hold emails and questions).

The worker runs it every ``SMARTSUPPORT_PURGE_INTERVAL_SECONDS``; ``smartsupport purge
--dry-run`` shows the counts first. Deleting is idempotent, so two processes purging at once
only repeat each other's work. Each pass that deletes something leaves an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from smartsupport import attachment_records, audit, data_policy
from smartsupport.customer_data import delete_conversations, delete_files, forget_contexts
from smartsupport.domain import utcnow
from smartsupport.services import Services
from smartsupport.storage.base import SqlDatabase

BATCH = 200  # conversations per transaction: short write locks on SQLite


@dataclass(slots=True)
class WorkspacePurge:
    workspace_id: str
    days: dict[str, int | None]
    conversations: int = 0
    messages: int = 0
    customers: int = 0
    analytics_events: int = 0
    outbox: int = 0

    def deleted(self) -> int:
        return (
            self.conversations + self.messages + self.customers + self.analytics_events
            + self.outbox
        )  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace_id,
            "retention_days": self.days,
            "conversations": self.conversations,
            "messages": self.messages,
            "customers": self.customers,
            "analytics_events": self.analytics_events,
            "outbox": self.outbox,
        }


@dataclass(slots=True)
class PurgeReport:
    dry_run: bool
    started_at: datetime
    workspaces: list[WorkspacePurge] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "workspaces": [w.as_json() for w in self.workspaces],
        }


async def purge(
    services: Services,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    actor: str = "system",
) -> PurgeReport:
    """One purge pass over every loaded workspace."""
    report = PurgeReport(dry_run, now or utcnow())
    for workspace in services.workspaces.values():
        policy = data_policy.for_workspace(workspace)
        days = {
            kind: policy.days(kind, services.settings.retention_days) for kind in data_policy.KINDS
        }
        done = WorkspacePurge(workspace.id, days)
        await _workspace(services, done, report.started_at, dry_run)
        report.workspaces.append(done)
    if not dry_run and any(w.deleted() for w in report.workspaces):
        await audit.record(
            services.store,
            "retention.purged",
            actor=actor,
            details={"workspaces": [w.as_json() for w in report.workspaces if w.deleted()]},
        )
    return report


def _cutoff(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


async def _workspace(services: Services, done: WorkspacePurge, now: datetime, dry: bool) -> None:
    db = cast(SqlDatabase, services.store)
    ws = done.workspace_id
    old = _cutoff(now, done.days["conversations"])
    if old is not None:
        await _conversations(services, done, old, dry)
        # Customers with no conversation left once the old ones are gone (counted the same
        # way before a dry run deletes nothing).
        orphans = (
            "FROM customers c WHERE c.workspace_id = ? AND c.created_at < ? AND NOT EXISTS "
            "(SELECT 1 FROM conversations v WHERE v.customer_id = c.id AND v.updated_at >= ?)"
        )
        if dry:
            row = await db.fetchrow(f"SELECT count(*) AS n {orphans}", ws, old, old)
            done.customers = row["n"] if row else 0
        else:
            done.customers = await db.execute(
                f"DELETE FROM customers WHERE id IN (SELECT c.id {orphans})", ws, old, old
            )
    old = _cutoff(now, done.days["analytics"])
    if old is not None:
        where = "FROM events WHERE workspace_id = ? AND conversation_id IS NULL AND created_at < ?"
        done.analytics_events = await _delete_or_count(db, where, dry, ws, old)
    old = _cutoff(now, done.days["outbox"])
    if old is not None:
        where = (
            "FROM outbox WHERE workspace_id = ? AND status IN ('done', 'dead') AND updated_at < ?"
        )
        done.outbox = await _delete_or_count(db, where, dry, ws, old)


async def _delete_or_count(db: SqlDatabase, where: str, dry: bool, *args: Any) -> int:
    if dry:
        row = await db.fetchrow(f"SELECT count(*) AS n {where}", *args)
        return int(row["n"]) if row else 0
    return await db.execute(f"DELETE {where}", *args)


async def _conversations(
    services: Services, done: WorkspacePurge, old: datetime, dry: bool
) -> None:
    db = cast(SqlDatabase, services.store)
    query = "FROM conversations WHERE workspace_id = ? AND updated_at < ?"
    if dry:
        row = await db.fetchrow(
            f"SELECT count(*) AS n, (SELECT count(*) FROM messages WHERE conversation_id IN "
            f"(SELECT id {query})) AS m {query}",
            done.workspace_id,
            old,
            done.workspace_id,
            old,
        )
        done.conversations, done.messages = (row["n"], row["m"]) if row else (0, 0)
        return
    while True:
        rows = await db.fetch(f"SELECT id {query} LIMIT ?", done.workspace_id, old, BATCH)
        ids = [r["id"] for r in rows]
        if not ids:
            return
        async with db.transaction() as tx:
            deleted = await delete_conversations(tx, ids)
        await forget_contexts(services, ids)
        await delete_files(db, deleted, attachment_records.store_of(services))
        done.conversations += deleted.conversations
        done.messages += deleted.messages
        if len(ids) < BATCH:
            return
