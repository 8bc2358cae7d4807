"""The audit log of staff and admin actions: append-only and tamper-evident.

    record(db, action, actor=..., ...)     append one entry (its own transaction)
    entries(db, ...)                       read entries, oldest first
    verify(db, anchor=None)                recompute the chain; report the first break

Each entry's ``hash`` is SHA-256 over its own fields and the previous entry's hash
(``prev_hash``; the first entry chains to ``GENESIS``). Sequence numbers are dense. A
changed field, a removed or inserted entry, or a re-ordered pair no longer matches, and
``verify`` names the first entry where the chain breaks. Removing the newest entries leaves
a shorter chain that is still consistent: keep the head (``Verification.head``) somewhere
else (a ticket, the operator's log) and pass it back as ``anchor`` to detect that too.

Entries carry ids, counts and addresses, never a customer's personal data: a customer's
erasure leaves a tombstone here, and the log is never purged. The tables refuse UPDATE and
DELETE (triggers of migration 0008); the chain is what catches writes that bypass them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from smartsupport.domain import utcnow
from smartsupport.storage.base import SqlDatabase, SqlExecutor

GENESIS = "0" * 64
_COLUMNS = (
    "seq, created_at, workspace_id, actor, action, target, customer_id, ip, details, "
    "prev_hash, hash"
)
# Keeps two PostgreSQL writers from both chaining to the same head (SQLite's BEGIN
# IMMEDIATE already serialises writers). Any constant works; it names this lock only.
_PG_LOCK = 7_316_011


@dataclass(slots=True)
class AuditEntry:
    seq: int
    created_at: datetime
    actor: str
    action: str
    workspace_id: str | None = None
    target: str | None = None
    customer_id: str | None = None
    ip: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "workspace_id": self.workspace_id,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "customer_id": self.customer_id,
            "ip": self.ip,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(slots=True)
class Verification:
    ok: bool
    entries: int
    head: tuple[int, str] | None  # (seq, hash) of the newest entry
    broken_at: int | None = None
    problem: str = ""


def canonical(details: dict[str, Any]) -> str:
    """The details as stored and hashed: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    seq: int,
    created_at: datetime,
    workspace_id: str | None,
    actor: str,
    action: str,
    target: str | None,
    customer_id: str | None,
    ip: str | None,
    details: str,
    prev_hash: str,
) -> str:
    when = created_at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = [seq, when, workspace_id, actor, action, target, customer_id, ip, details, prev_hash]
    return hashlib.sha256(canonical({"v1": fields}).encode("utf-8")).hexdigest()


async def record(
    db: object,
    action: str,
    *,
    actor: str,
    workspace_id: str | None = None,
    target: str | None = None,
    customer_id: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry, chained to the newest, in its own transaction; returns it."""
    database = cast(SqlDatabase, db)
    async with database.transaction() as tx:
        return await append(
            tx,
            database.dialect,
            action,
            actor=actor,
            workspace_id=workspace_id,
            target=target,
            customer_id=customer_id,
            ip=ip,
            details=details,
            now=now,
        )


async def append(
    tx: SqlExecutor,
    dialect: str,
    action: str,
    *,
    actor: str,
    workspace_id: str | None = None,
    target: str | None = None,
    customer_id: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """``record`` inside the caller's transaction (``dialect`` of its database), so an
    action and its entry commit together (a customer's erasure and its tombstone)."""
    text = canonical(details or {})
    when = (now or utcnow()).astimezone(UTC)
    if dialect == "postgresql":
        await tx.execute("SELECT pg_advisory_xact_lock(?)", _PG_LOCK)
    last = await tx.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
    digest = entry_hash(seq, when, workspace_id, actor, action, target, customer_id, ip, text, prev)
    await tx.execute(
        f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        seq, when, workspace_id, actor, action, target, customer_id, ip, text, prev, digest,
    )  # fmt: skip
    return AuditEntry(
        seq, when, actor, action, workspace_id, target, customer_id, ip,
        json.loads(text), prev, digest,
    )  # fmt: skip


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        seq=row["seq"],
        created_at=row["created_at"],
        actor=row["actor"],
        action=row["action"],
        workspace_id=row["workspace_id"],
        target=row["target"],
        customer_id=row["customer_id"],
        ip=row["ip"],
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


async def entries(
    db: SqlDatabase | SqlExecutor,
    *,
    workspaces: list[str] | None = None,
    principals: list[str] | None = None,
    customer_id: str | None = None,
    action: str | None = None,
    after: int = 0,
    limit: int = 100,
    newest_first: bool = False,
) -> list[AuditEntry]:
    """Entries after ``after``. With ``workspaces``: those of these workspaces, plus the
    workspace-less ones (logins, account changes) whose actor or target is one of
    ``principals`` (e.g. ``staff:<id>`` of the workspaces' staff)."""
    where: list[str] = ["seq > ?"]
    args: list[Any] = [after]
    if workspaces is not None:
        scope = [f"workspace_id IN ({', '.join('?' for _ in workspaces)})"] if workspaces else []
        args += workspaces
        if principals:
            marks = ", ".join("?" for _ in principals)
            scope.append(f"(workspace_id IS NULL AND (actor IN ({marks}) OR target IN ({marks})))")
            args += principals + principals
        where.append(f"({' OR '.join(scope) or 'FALSE'})")
    if customer_id is not None:
        where.append("customer_id = ?")
        args.append(customer_id)
    if action is not None:
        where.append("action = ?")
        args.append(action)
    order = "DESC" if newest_first else "ASC"
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} "
        f"ORDER BY seq {order} LIMIT ?",
        *args,
        limit,
    )
    return [_entry(r) for r in rows]


async def verify(
    db: SqlDatabase | SqlExecutor, anchor: tuple[int, str] | None = None, *, page: int = 1000
) -> Verification:
    """Recompute the whole chain. ``anchor`` is a (seq, hash) seen earlier (a previous
    ``head``): it must still be there, unchanged, so the newest entries were not cut off."""
    prev, expected, count, after = GENESIS, 1, 0, 0
    anchored = anchor is None
    last: tuple[int, str] | None = None
    while True:
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", after, page
        )
        for row in rows:
            seq = row["seq"]
            if seq != expected:
                return _broken(count, last, expected, f"entry {expected} is missing")
            if row["prev_hash"] != prev:
                return _broken(count, last, seq, f"entry {seq} does not chain to entry {seq - 1}")
            digest = entry_hash(
                seq, row["created_at"], row["workspace_id"], row["actor"], row["action"],
                row["target"], row["customer_id"], row["ip"], row["details"], row["prev_hash"],
            )  # fmt: skip
            if digest != row["hash"]:
                return _broken(count, last, seq, f"entry {seq} was changed after it was written")
            if anchor is not None and seq == anchor[0]:
                if digest != anchor[1]:
                    return _broken(count, last, seq, f"entry {seq} is not the anchored entry")
                anchored = True
            prev, expected, count, after = row["hash"], seq + 1, count + 1, seq
            last = (seq, row["hash"])
        if len(rows) < page:
            break
    if not anchored:
        assert anchor is not None
        return _broken(count, last, anchor[0], f"anchored entry {anchor[0]} is gone")
    return Verification(True, count, last)


def _broken(count: int, last: tuple[int, str] | None, seq: int, problem: str) -> Verification:
    return Verification(False, count, last, broken_at=seq, problem=problem)
