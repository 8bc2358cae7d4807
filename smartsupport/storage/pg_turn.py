"""The PostgreSQL statements of a customer turn: one to read, one to write.

The write is a single statement so that a whole turn costs one round trip and one commit:
data-modifying CTEs bump the conversation (its row lock keeps sequence numbers dense, as in
``append_message``) and merge its metadata changes, and insert the messages, events and
outbox work, which arrive as JSON arrays because a turn has a varying number of each.
Foreign keys are checked at the end of the statement, so a reply may name the customer
message inserted beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from smartsupport.domain import ConversationStatus, Message, OutboxCancel, OutboxItem
from smartsupport.ids import new_id

LOAD_TURN = (
    "SELECT c.*, (SELECT m.id FROM messages m WHERE m.conversation_id = c.id "
    "AND m.client_id = ?) AS seen_id FROM conversations c WHERE c.id = ?"
)

RECORD_TURN = """
WITH conversation AS (
    UPDATE conversations
    SET last_seq = last_seq + ?, status = coalesce(?, status), updated_at = ?,
        metadata = (metadata || ?::jsonb) - ?::text[]
    WHERE id = ?
    RETURNING *
), new_messages AS (
    INSERT INTO messages (id, conversation_id, seq, author, text, client_id, reply_to, meta,
                          created_at)
    SELECT m.doc->>'id', c.id, c.last_seq - ? + m.ord, m.doc->>'author', m.doc->>'text',
           m.doc->>'client_id', m.doc->>'reply_to', m.doc->'meta',
           (m.doc->>'created_at')::timestamptz
    FROM conversation c, jsonb_array_elements(?::jsonb) WITH ORDINALITY AS m(doc, ord)
), new_events AS (
    INSERT INTO events (workspace_id, conversation_id, type, data, created_at)
    SELECT c.workspace_id, c.id, e.doc->>'type', e.doc->'data', ?
    FROM conversation c, jsonb_array_elements(?::jsonb) WITH ORDINALITY AS e(doc, ord)
    ORDER BY e.ord
), new_outbox AS (
    INSERT INTO outbox (id, workspace_id, kind, idempotency_key, payload, status, attempts,
                        next_attempt_at, created_at, updated_at)
    SELECT o.doc->>'id', c.workspace_id, o.doc->>'kind', o.doc->>'key', o.doc->'payload',
           'pending', 0, coalesce((o.doc->>'not_before')::timestamptz, ?),
           greatest((o.doc->>'not_before')::timestamptz, ?), ?
    FROM conversation c, jsonb_array_elements(?::jsonb) AS o(doc)
    ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT * FROM conversation
"""

# A turn that calls back pending work (domain.OutboxCancel, sqlite_jobs.cancel_outbox):
# RECORD_TURN with one more CTE, still one statement; its parameters follow RECORD_TURN's
# (``cancel_args``). A turn without any keeps the plain statement.
CANCEL_OUTBOX = """, cancelled AS (
    UPDATE outbox o SET status = 'done', result = x.doc->'result', updated_at = ?
    FROM conversation c, jsonb_array_elements(?::jsonb) AS x(doc)
    WHERE o.workspace_id = c.workspace_id AND o.kind = x.doc->>'kind' AND o.status = 'pending'
      AND (o.locked_until IS NULL OR o.locked_until < ?)
      AND CASE WHEN (x.doc->>'prefix')::boolean
               THEN left(o.idempotency_key, length(x.doc->>'key')) = x.doc->>'key'
               ELSE o.idempotency_key = x.doc->>'key' END
    RETURNING o.id
)
SELECT * FROM conversation
"""
RECORD_TURN_CANCELLING = RECORD_TURN.replace("\nSELECT * FROM conversation\n", CANCEL_OUTBOX)


def cancel_args(cancel: Sequence[OutboxCancel], now: datetime) -> tuple[Any, ...]:
    """The parameters RECORD_TURN_CANCELLING adds after RECORD_TURN's."""
    docs = [{"kind": c.kind, "key": c.key, "prefix": c.prefix, "result": c.result} for c in cancel]
    return now, docs, now


def record_turn_args(
    conversation_id: str,
    messages: Sequence[Message],
    status: ConversationStatus | None,
    events: Sequence[tuple[str, dict[str, Any]]],
    now: datetime,
    metadata: dict[str, Any],
    outbox: Sequence[OutboxItem],
) -> tuple[Any, ...]:
    """The parameters of RECORD_TURN, in placeholder order."""
    docs = [
        {
            "id": m.id,
            "author": m.author.value,
            "text": m.text,
            "client_id": m.client_id,
            "reply_to": m.reply_to,
            "meta": m.meta,
            "created_at": m.created_at.isoformat(),
        }
        for m in messages
    ]
    work = [
        {
            "id": new_id(),
            "kind": item.kind,
            "key": item.idempotency_key,
            "payload": item.payload,
            "not_before": item.not_before.isoformat() if item.not_before else None,
        }
        for item in outbox
    ]
    return (
        len(messages),
        ConversationStatus(status).value if status is not None else None,
        now,
        {k: v for k, v in metadata.items() if v is not None},
        [k for k, v in metadata.items() if v is None],
        conversation_id,
        len(messages),
        docs,
        now,
        [{"type": kind, "data": data} for kind, data in events],
        now,
        now,
        now,
        work,
    )
