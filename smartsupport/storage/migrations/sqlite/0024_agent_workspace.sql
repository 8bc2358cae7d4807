-- The agent workspace (issue 16): tags on conversations, and the full-text index of
-- transcripts for the inbox's history and search (inbox/search.py).
--
-- The index stores only what smartsupport/search_terms.py makes of each message (normalised
-- words, or their keyed hashes when field encryption is on), never the text itself. It is
-- filled by a catch-up indexer (inbox/search_index.py) that follows conversations.updated_at,
-- so the conversation path stays as it is; search_progress keeps its mark.

CREATE TABLE conversation_tags (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    tag              TEXT NOT NULL,
    created_by       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);

CREATE INDEX conversation_tags_tag ON conversation_tags (workspace_id, tag);

-- One row per indexed conversation; `doc` is the rowid of its conversation_fts row (an
-- INTEGER PRIMARY KEY, so VACUUM never renumbers it).
CREATE TABLE conversation_search (
    doc              INTEGER PRIMARY KEY,
    conversation_id  TEXT NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    indexed_seq      INTEGER NOT NULL DEFAULT 0,
    -- the intents of the customer's messages, space-separated with a space at each end
    intents          TEXT NOT NULL DEFAULT ' ',
    updated_at       TIMESTAMPTZ NOT NULL
);

-- terms: the transcript's; people: the customer's name, email and id and the contact form's
-- email (so a customer is findable even when those columns are encrypted).
CREATE VIRTUAL TABLE conversation_fts USING fts5 (
    terms, people, tokenize = 'unicode61 remove_diacritics 0'
);

-- A conversation deleted (erasure, retention) takes its index entry with it.
CREATE TRIGGER conversation_search_gone AFTER DELETE ON conversation_search
BEGIN
    DELETE FROM conversation_fts WHERE rowid = old.doc;
END;

CREATE TABLE search_progress (
    name  TEXT PRIMARY KEY,
    mark  TIMESTAMPTZ NOT NULL
);

-- The indexer's catch-up reads conversations changed since its mark, in every workspace.
CREATE INDEX conversations_updated ON conversations (updated_at);
-- The history's "agent" filter: who held or resolved a conversation.
CREATE INDEX inbox_conversations_resolved_by ON inbox_conversations (resolved_by);

-- Routing by skill and language (inbox/routing.py): what an agent can handle ("billing",
-- "returns") and the languages they answer in ("en", "de"); empty: no restriction.
ALTER TABLE inbox_agents ADD COLUMN skills JSON NOT NULL DEFAULT '[]';
ALTER TABLE inbox_agents ADD COLUMN languages JSON NOT NULL DEFAULT '[]';

-- Customer memory (inbox/memory.py): each finished conversation of a verified customer,
-- summarised extractively and embedded. The summary is not stored as text: it names the
-- messages it is made of (read, and opened when encrypted, like any message), so erasure
-- and retention, which delete conversations and customers, take memories with them.
CREATE TABLE customer_memories (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    customer_id      TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    message_ids      JSON NOT NULL,
    vector           JSON NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX customer_memories_customer ON customer_memories (customer_id, created_at);
