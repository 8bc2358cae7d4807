-- The agent inbox: who holds which conversation, agents' status and capacity, canned
-- responses, private notes and customer satisfaction (CSAT).
--
-- The conversation's status (waiting_for_agent, with_agent, ...) stays in `conversations`;
-- the queue is "status waiting_for_agent", ordered by conversations.metadata.priority (set
-- by escalation rules or a supervisor) and by when the status changed (the event log).
-- Staff ids are not foreign keys, like staff_workspaces: accounts may be managed apart.

CREATE TABLE inbox_agents (
    staff_id         TEXT PRIMARY KEY,
    status           TEXT NOT NULL DEFAULT 'offline'
                     CHECK (status IN ('online', 'away', 'offline')),
    capacity         INTEGER NOT NULL DEFAULT 3 CHECK (capacity BETWEEN 0 AND 50),
    teams            JSONB NOT NULL DEFAULT '[]',
    -- Round robin: the agent offered a conversation longest ago goes next.
    last_offered_at  TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE inbox_conversations (
    conversation_id    TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id       TEXT NOT NULL,
    agent_id           TEXT,             -- who holds it (status with_agent)
    team               TEXT,             -- transferred to a team: offered to its members
    offered_to         TEXT,             -- round robin's pick, until offer_expires_at
    offer_expires_at   TIMESTAMPTZ,
    assigned_at        TIMESTAMPTZ,
    resolved_at        TIMESTAMPTZ,
    resolved_by        TEXT,
    csat_requested_at  TIMESTAMPTZ,
    csat_rating        INTEGER CHECK (csat_rating BETWEEN 1 AND 5),
    csat_comment       TEXT,
    csat_at            TIMESTAMPTZ,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE INDEX inbox_conversations_agent ON inbox_conversations (agent_id);
CREATE INDEX inbox_conversations_workspace ON inbox_conversations (workspace_id, resolved_at);

CREATE TABLE inbox_canned (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    shortcut      TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,           -- plain text with {placeholders}; never HTML
    created_by    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, shortcut)
);

-- Private notes: shown to staff only, never published on the conversation's channel.
CREATE TABLE inbox_notes (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author_id        TEXT NOT NULL,
    author_name      TEXT NOT NULL,
    text             TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX inbox_notes_conversation ON inbox_notes (conversation_id, created_at);
