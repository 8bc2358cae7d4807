-- Core storage: workspaces, customers, conversations, messages and the event log.
-- IDs are 32-character uuid4 hex strings made in Python; timestamps are UTC.

CREATE TABLE schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspaces (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    config      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL
);

CREATE TABLE customers (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    external_id  text,
    name         text,
    email        text,
    locale       text,
    channel      text NOT NULL DEFAULT 'web',
    segment      text,
    metadata     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL
);

-- Anonymous customers (no external id) never collide.
CREATE UNIQUE INDEX customers_workspace_external_id
    ON customers (workspace_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE conversations (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    customer_id  text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel      text NOT NULL DEFAULT 'web',
    status       text NOT NULL,
    last_seq     integer NOT NULL DEFAULT 0,
    metadata     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- The agent queue: "waiting conversations of this workspace, most recent first".
CREATE INDEX conversations_workspace_status_updated
    ON conversations (workspace_id, status, updated_at);
CREATE INDEX conversations_workspace_updated ON conversations (workspace_id, updated_at);
CREATE INDEX conversations_customer ON conversations (customer_id);

CREATE TABLE messages (
    id              text PRIMARY KEY,
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             integer NOT NULL,
    author          text NOT NULL,
    text            text NOT NULL,
    client_id       text,
    reply_to        text REFERENCES messages (id) ON DELETE SET NULL,
    meta            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    UNIQUE (conversation_id, seq),
    -- A retried send carries the same client id; the second insert must fail.
    UNIQUE (conversation_id, client_id)
);

CREATE INDEX messages_reply_to ON messages (reply_to) WHERE reply_to IS NOT NULL;

CREATE TABLE events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id    text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id text REFERENCES conversations (id) ON DELETE CASCADE,
    type            text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL
);

CREATE INDEX events_workspace_type_id ON events (workspace_id, type, id);
CREATE INDEX events_conversation_id ON events (conversation_id, id);
