"""A customer's rights over their data (GDPR art. 15, 17 and 20; CCPA's right to know and
to delete): everything about them as one JSON document, and erasure.

    find_customers(services, workspace, external_id=..., email=...)   who is asked about
    export_customer(services, customer_id)    the document (also records an audit entry)
    erase_customer(services, customer_id)     delete it all; a tombstone in the audit log
    delete_conversations(tx, ids)             what erasure and the retention purge share

What belongs to a customer: their record, their conversations with every message, event,
staff note, CSAT rating and consent, the outbox work that names one of their conversations
(helpdesk tickets, ticket notes, Slack/Teams notices, analytics events on their way to
the event stream: found by the conversation's id in the outbox key or payload, or a note's
message id in its key), the helpdesk ticket
mappings and batched ticket requests, the email channel's thread index, the files attached
to their messages (the ``attachments`` rows - uploads, voice notes, email and channel media
- and their files in the attachment store, kept by content hash: a file another conversation
still lists is kept), the cached dialogue context, and the audit entries about them. Events are
kept for analytics only in
anonymised form: detached from the conversation, with only the fields in ``ANALYTICS_KEYS``.
The helpdesk's own copy of a ticket lives in the helpdesk: erasure lists the tickets so the
operator can erase them there.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from smartsupport import attachment_records, audit
from smartsupport.attachments import AttachmentStore
from smartsupport.domain import Customer, utcnow
from smartsupport.errors import NotFound
from smartsupport.services import Services
from smartsupport.storage import records
from smartsupport.storage.base import SqlDatabase, SqlExecutor
from smartsupport.storage.fields import MARK, SEALED

# Event fields that say nothing about who the customer is or what they wrote: what analytics
# count (intents, steps, statuses, timings, ratings). Everything else is dropped.
ANALYTICS_KEYS = frozenset(
    {
        "action", "channel", "confidence", "flow", "intent", "kind", "ms", "offline",
        "priority", "provider", "rating", "replies", "rule", "status", "step", "tried", "type",
    }
)  # fmt: skip
_CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
KEY_MARK = "key:"  # in Erasure.files: an attachment store key, not a path (attachment_records)


@dataclass(slots=True)
class Erasure:
    customer_id: str
    conversations: int = 0
    messages: int = 0
    events_anonymised: int = 0
    outbox: int = 0
    notes: int = 0
    consents: int = 0
    contexts: int = 0
    attachments: int = 0
    helpdesk_tickets: list[dict[str, str]] = field(default_factory=list)
    # Files to delete once the transaction has committed (not reported).
    files: list[str] = field(default_factory=list, repr=False)

    def counts(self) -> dict[str, int]:
        """What the tombstone keeps: numbers only."""
        found = asdict(self)
        return {
            k: (len(v) if isinstance(v, list) else v)
            for k, v in found.items()
            if k not in ("customer_id", "files")
        }


def _db(services: Services) -> SqlDatabase:
    return cast(SqlDatabase, services.store)


def _marks(values: list[str]) -> str:
    return ", ".join("?" for _ in values)


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


async def find_customers(
    services: Services,
    workspace_id: str,
    *,
    external_id: str | None = None,
    email: str | None = None,
) -> list[Customer]:
    """The workspace's customers with this external id or email (case-insensitive)."""
    db = _db(services)
    # Sealed identifiers are found by their keyed hash (either index key's while it
    # changes), older plaintext rows by value.
    where: list[str] = ["workspace_id = ?"]
    args: list[str | None] = [workspace_id]
    if external_id is not None:
        where.append("(external_id_hash IN (?, ?) OR external_id = ?)")
        args += [*db.fields.lookups("external_id", external_id), external_id]
    if email is not None:
        where.append("(email_hash IN (?, ?) OR lower(email) = ?)")
        args += [*db.fields.lookups("email", email), email.strip().lower()]
    rows = await db.fetch(
        f"SELECT * FROM customers WHERE {' AND '.join(where)} ORDER BY created_at", *args
    )
    return [records.customer(db.fields.open_row("customers", r)) for r in rows]


async def customer_in(services: Services, workspace_id: str, customer_id: str) -> Customer:
    """The customer, or NotFound (also for another workspace's customer)."""
    customer = await services.store.get_customer(customer_id)
    if customer is None or customer.workspace_id != workspace_id:
        raise NotFound(f"no customer {customer_id!r} in workspace {workspace_id!r}")
    return customer


async def _conversation_ids(db: SqlDatabase | SqlExecutor, customer_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT id FROM conversations WHERE customer_id = ? ORDER BY created_at", customer_id
    )
    return [r["id"] for r in rows]


async def _outbox_rows(db: SqlDatabase | SqlExecutor, conversation_ids: list[str]) -> list[Any]:
    """Outbox rows written for these conversations or for one of their messages (payloads
    opened). A sealed payload cannot be searched in SQL: those are opened and searched here."""
    found: dict[str, Any] = {}
    sealed = []
    if db.fields.enabled and conversation_ids:
        rows = await db.fetch(
            "SELECT * FROM outbox WHERE CAST(payload AS TEXT) LIKE ?", f"%{MARK}%"
        )
        sealed = [db.fields.open_row("outbox", r) for r in rows]
    for row in sealed:
        text = json.dumps(row["payload"])
        if any(conversation_id in text for conversation_id in conversation_ids):
            found[row["id"]] = row
    for conversation_id in conversation_ids:
        message_ids = [
            r["id"]
            for r in await db.fetch(
                "SELECT id FROM messages WHERE conversation_id = ?", conversation_id
            )
        ]
        pattern = f"%{conversation_id}%"
        rows = await db.fetch(
            "SELECT * FROM outbox WHERE idempotency_key LIKE ? OR CAST(payload AS TEXT) LIKE ?",
            pattern,
            pattern,
        )
        for chunk in _chunks([f"note:{m}" for m in message_ids]):
            rows += await db.fetch(
                f"SELECT * FROM outbox WHERE idempotency_key IN ({_marks(chunk)})", *chunk
            )
        found.update((r["id"], db.fields.open_row("outbox", r)) for r in rows)
    return list(found.values())


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


async def _rows(db: SqlDatabase, table: str, column: str, ids: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(ids):
        rows += await db.fetch(f"SELECT * FROM {table} WHERE {column} IN ({_marks(chunk)})", *chunk)
    if table in SEALED:
        rows = [db.fields.open_row(table, r) for r in rows]
    return [_jsonable(r) for r in rows]


async def export_customer(
    services: Services, customer_id: str, *, actor: str, ip: str | None = None
) -> dict[str, Any]:
    """Everything stored about the customer, as one JSON-able document. The export itself
    is audited (the entry is part of the document)."""
    db = _db(services)
    customer = await services.store.get_customer(customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    await audit.record(
        db,
        "customer.exported",
        actor=actor,
        workspace_id=customer.workspace_id,
        target=f"customer:{customer_id}",
        customer_id=customer_id,
        ip=ip,
    )
    conversation_ids = await _conversation_ids(db, customer_id)
    conversations = []
    for row in await _rows(db, "conversations", "id", conversation_ids):
        row["metadata"] = db.fields.open_metadata(row["id"], row["metadata"])
        messages = await services.store.list_messages(row["id"], limit=1_000_000)
        events = [
            db.fields.opened_event_row(e)  # a mail's sender, an error: sealed (fields.py)
            for e in await db.fetch(
                "SELECT id, workspace_id, conversation_id, type, data, created_at FROM events "
                "WHERE conversation_id = ? ORDER BY id",
                row["id"],
            )
        ]
        raw = await services.contexts.backplane.get(services.contexts.key(row["id"]))
        conversations.append(
            {
                **row,
                "messages": [_jsonable(asdict(m)) for m in messages],
                "events": [
                    _jsonable({k: e[k] for k in ("id", "type", "data", "created_at")})
                    for e in events
                ],
                "context": json.loads(raw) if raw else None,
            }
        )
    inbox = await _rows(db, "inbox_conversations", "conversation_id", conversation_ids)
    entries = await audit.entries(db, customer_id=customer_id, limit=1_000_000)
    return {
        "format": "smartsupport.customer-export.v1",
        "exported_at": utcnow().isoformat(),
        "customer": _jsonable(asdict(customer)),
        "conversations": conversations,
        "feedback": [
            {k: r[k] for k in ("conversation_id", "csat_rating", "csat_comment", "csat_at")}
            for r in inbox
            if r["csat_rating"] is not None or r["csat_comment"] is not None
        ],
        "staff_notes": await _rows(db, "inbox_notes", "conversation_id", conversation_ids),
        "assignments": inbox,
        "consents": await _rows(db, "consents", "customer_id", [customer_id]),
        "outbox": [_jsonable(r) for r in await _outbox_rows(db, conversation_ids)],
        "helpdesk_tickets": await _rows(
            db, "helpdesk_tickets", "conversation_id", conversation_ids
        ),
        "helpdesk_batched_requests": await _rows(
            db, "helpdesk_batch_items", "conversation_id", conversation_ids
        ),
        "email_threads": await _rows(db, "email_threads", "conversation_id", conversation_ids),
        "channel_contacts": await _rows(
            db, "channel_contacts", "conversation_id", conversation_ids
        ),
        "attachments": await _rows(db, "attachments", "conversation_id", conversation_ids),
        # the provider's ids and statuses of messages sent to them (a failure's error opened)
        "channel_deliveries": await _rows(
            db, "channel_deliveries", "conversation_id", conversation_ids
        ),
        "audit": [e.as_json() for e in entries],
    }


def anonymised(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data with only the analytics fields, marked as anonymised."""
    return {**{k: v for k, v in data.items() if k in ANALYTICS_KEYS}, "anonymised": True}


async def delete_conversations(tx: SqlExecutor, conversation_ids: list[str]) -> Erasure:
    """Inside the caller's transaction: anonymise the conversations' events and delete the
    conversations with everything hanging off them. Returns the counts (customer_id "")."""
    done = Erasure("")
    if not conversation_ids:
        return done
    for row in await _outbox_rows(tx, conversation_ids):
        done.outbox += await tx.execute("DELETE FROM outbox WHERE id = ?", row["id"])
    for chunk in _chunks(conversation_ids):
        marks = _marks(chunk)
        events = await tx.fetch(
            f"SELECT id, data FROM events WHERE conversation_id IN ({marks})", *chunk
        )
        for event in events:
            await tx.execute(
                "UPDATE events SET conversation_id = NULL, data = ? WHERE id = ?",
                anonymised(event["data"]),
                event["id"],
            )
        done.events_anonymised += len(events)
        tickets = await tx.fetch(
            f"SELECT DISTINCT provider, external_id FROM helpdesk_tickets "
            f"WHERE conversation_id IN ({marks})",
            *chunk,
        )
        done.helpdesk_tickets += [
            {"provider": t["provider"], "external_id": t["external_id"]} for t in tickets
        ]
        done.files += await _attachment_files(tx, chunk)
        done.files += [KEY_MARK + k for k in await attachment_records.keys_of(tx, chunk)]
        # (a messaging contact is the customer's phone number: it goes with its conversation)
        for table in (
            "helpdesk_tickets",
            "helpdesk_batch_items",
            "email_threads",
            "channel_contacts",
            "channel_deliveries",
        ):
            await tx.execute(f"DELETE FROM {table} WHERE conversation_id IN ({marks})", *chunk)
        counted = await tx.fetchrow(
            f"SELECT (SELECT count(*) FROM messages WHERE conversation_id IN ({marks})) AS m, "
            f"(SELECT count(*) FROM inbox_notes WHERE conversation_id IN ({marks})) AS n, "
            f"(SELECT count(*) FROM consents WHERE conversation_id IN ({marks})) AS c",
            *chunk,
            *chunk,
            *chunk,
        )
        assert counted is not None
        done.messages += counted["m"]
        done.notes += counted["n"]
        done.consents += counted["c"]
        # Messages, notes, inbox state and consents go with it (ON DELETE CASCADE).
        done.conversations += await tx.execute(
            f"DELETE FROM conversations WHERE id IN ({marks})", *chunk
        )
    return done


async def _attachment_files(tx: SqlExecutor, conversation_ids: list[str]) -> list[str]:
    """The stored files the messages of these conversations list (``meta.attachments``)."""
    rows = await tx.fetch(
        f"SELECT meta FROM messages WHERE conversation_id IN ({_marks(conversation_ids)})",
        *conversation_ids,
    )
    return [
        str(a["path"])
        for row in rows
        for a in row["meta"].get("attachments") or []
        if isinstance(a, dict) and a.get("stored") and a.get("path") and a.get("sha256")
    ]


async def delete_files(db: SqlDatabase, done: Erasure, store: AttachmentStore) -> None:
    """After the commit: delete the erased messages' files that no other message lists
    (the store keeps one file per content hash): attachments through the attachment store
    once no ``attachments`` row names their key, and files of messages stored before the
    attachments table (``meta.attachments[].path``) once no message lists their hash."""
    keys = [f[len(KEY_MARK) :] for f in done.files if f.startswith(KEY_MARK)]
    await attachment_records.delete_unreferenced(db, store, keys)
    for path in sorted({f for f in done.files if not f.startswith(KEY_MARK)}):
        digest = Path(path).name.split(".")[0]
        still = await db.fetchrow(
            "SELECT 1 AS one FROM messages WHERE CAST(meta AS TEXT) LIKE ? LIMIT 1", f"%{digest}%"
        )
        if still is None:
            await asyncio.to_thread(Path(path).unlink, missing_ok=True)


async def forget_contexts(services: Services, conversation_ids: list[str]) -> int:
    """Delete the cached dialogue context (memory or Redis) of these conversations."""
    for conversation_id in conversation_ids:
        await services.contexts.delete(conversation_id)
    return len(conversation_ids)


async def erase_customer(
    services: Services, customer_id: str, *, actor: str, ip: str | None = None
) -> Erasure:
    """Delete the customer and everything about them in one transaction that also writes
    the tombstone (counts only), then their cached contexts."""
    db = _db(services)
    customer = await services.store.get_customer(customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    async with db.transaction() as tx:
        conversation_ids = await _conversation_ids(tx, customer_id)
        done = await delete_conversations(tx, conversation_ids)
        done.customer_id = customer_id
        done.consents += await tx.execute("DELETE FROM consents WHERE customer_id = ?", customer_id)
        await tx.execute("DELETE FROM customers WHERE id = ?", customer_id)
        done.contexts = len(conversation_ids)
        done.attachments = len(set(done.files))
        await audit.append(
            tx,
            db.dialect,
            "customer.erased",
            actor=actor,
            workspace_id=customer.workspace_id,
            target=f"customer:{customer_id}",
            customer_id=customer_id,
            ip=ip,
            details=done.counts(),
        )
    await forget_contexts(services, conversation_ids)
    await delete_files(db, done, attachment_records.store_of(services))
    return done
