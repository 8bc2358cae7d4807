-- Core storage: workspaces, customers, conversations, messages and the event log.
--
-- Types are declared for the Python side too: columns declared JSON hold JSON text and
-- come back as dict/list, TIMESTAMPTZ columns hold ISO-8601 UTC text
-- (2026-01-31T12:00:00.000000+00:00, which sorts in time order) and come back as aware
-- datetimes. IDs are 32-character uuid4 hex strings made in Python.

CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    config      JSON NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE customers (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    external_id  TEXT,
    name         TEXT,
    email        TEXT,
    locale       TEXT,
    channel      TEXT NOT NULL DEFAULT 'web',
    segment      TEXT,
    metadata     JSON NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL
);

-- Anonymous customers (no external id) never collide.
CREATE UNIQUE INDEX customers_workspace_external_id
    ON customers (workspace_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE conversations (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    customer_id  TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel      TEXT NOT NULL DEFAULT 'web',
    status       TEXT NOT NULL,
    last_seq     INTEGER NOT NULL DEFAULT 0,
    metadata     JSON NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- The agent queue: "waiting conversations of this workspace, most recent first".
CREATE INDEX conversations_workspace_status_updated
    ON conversations (workspace_id, status, updated_at);
CREATE INDEX conversations_workspace_updated ON conversations (workspace_id, updated_at);
CREATE INDEX conversations_customer ON conversations (customer_id);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    author          TEXT NOT NULL,
    text            TEXT NOT NULL,
    client_id       TEXT,
    reply_to        TEXT REFERENCES messages (id) ON DELETE SET NULL,
    meta            JSON NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (conversation_id, seq),
    -- A retried send carries the same client id; the second insert must fail.
    UNIQUE (conversation_id, client_id)
);

CREATE INDEX messages_reply_to ON messages (reply_to) WHERE reply_to IS NOT NULL;

CREATE TABLE events (
    -- AUTOINCREMENT: ids are never reused, so "after_id" paging never skips an event.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations (id) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    data            JSON NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX events_workspace_type_id ON events (workspace_id, type, id);
CREATE INDEX events_conversation_id ON events (conversation_id, id);
