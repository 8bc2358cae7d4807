-- Analytics (issue 15): ratings of single bot answers, and the indexes the KPI queries
-- read by (docs/analytics.md).
--
-- answer_feedback: one row per rating of one bot message. A customer's thumbs up (+1) or
-- down (-1) from the widget (source 'customer'), or an agent flagging a bad bot answer from
-- the inbox (source 'agent', rating -1, staff_id set). Rating again replaces the rating:
-- unique on (message_id, source, staff_id), with staff_id stored as '' for customers so the
-- uniqueness holds on both dialects (NULLs never collide in a UNIQUE constraint).

CREATE TABLE answer_feedback (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id       TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    rating           INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    reason           TEXT,
    source           TEXT NOT NULL CHECK (source IN ('customer', 'agent')),
    staff_id         TEXT,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX answer_feedback_once
    ON answer_feedback (message_id, source, COALESCE(staff_id, ''));
CREATE INDEX answer_feedback_conversation ON answer_feedback (conversation_id);
CREATE INDEX answer_feedback_workspace_created ON answer_feedback (workspace_id, created_at);

-- The dashboard walks a workspace's conversations by creation time, then reads their
-- messages and status events by conversation (messages are found by their unique
-- (conversation_id, seq); events by events_conversation_id).
CREATE INDEX conversations_workspace_created ON conversations (workspace_id, created_at, id);
-- Re-contact: the same customer's later conversations.
CREATE INDEX conversations_customer_created ON conversations (customer_id, created_at);
