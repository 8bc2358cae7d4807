-- Human handoff plumbing: the outbox, helpdesk tickets, batched low-confidence tickets and
-- webhook replay protection.
--
-- outbox: every call to a helpdesk or chat service is a row first, in the same transaction
-- as the change that needs it, and a worker delivers it. ``idempotency_key`` is unique, so
-- enqueueing the same work twice is a no-op; ``status`` is pending, done or dead (dead rows
-- are kept for admins to inspect and requeue, never deleted by the worker). A worker claims
-- a row by setting ``locked_until``; a crashed worker's rows come back when the lease ends.

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    kind             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    payload          JSON NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    locked_until     TIMESTAMPTZ,
    locked_by        TEXT,
    last_error       TEXT,
    result           JSON,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_workspace_status ON outbox (workspace_id, status);

-- One row per (conversation, helpdesk ticket). A batched ticket covers several
-- conversations, so ``external_id`` is not unique; webhooks find conversations through it.
CREATE TABLE helpdesk_tickets (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    provider         TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    url              TEXT,
    idempotency_key  TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (idempotency_key, conversation_id)
);

CREATE INDEX helpdesk_tickets_external ON helpdesk_tickets (workspace_id, provider, external_id);
CREATE INDEX helpdesk_tickets_conversation ON helpdesk_tickets (conversation_id);

-- Low-confidence ticket requests waiting for their batch window to close.
CREATE TABLE helpdesk_batch_items (
    batch_key        TEXT NOT NULL,
    workspace_id     TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    payload          JSON NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (batch_key, conversation_id)
);

-- Webhook deliveries already accepted: a replayed delivery id is refused (409).
CREATE TABLE webhook_receipts (
    provider         TEXT NOT NULL,
    workspace_id     TEXT NOT NULL,
    delivery_id      TEXT NOT NULL,
    received_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, workspace_id, delivery_id)
);

CREATE INDEX webhook_receipts_received ON webhook_receipts (received_at);
