-- Read marks (issue 16, docs/inbox.md "Working faster"): per agent and conversation, the
-- seq of the last message the agent has read, so unread counts are the same on every device
-- and survive a reload. Unread = the customer's messages with a greater seq, counted in the
-- query of the inbox's "mine" list (InboxStore.held_rows). The key leads with the
-- conversation: that join and the ON DELETE CASCADE of an erasure or retention purge both
-- look rows up by it.
CREATE TABLE inbox_reads (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    staff_id         TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, staff_id)
);
