-- The agent workspace (issue 16): tags on conversations, and the full-text index of
-- transcripts for the inbox's history and search (inbox/search.py).
--
-- The index stores only what smartsupport/search_terms.py makes of each message (normalised
-- words, or their keyed hashes when field encryption is on), never the text itself: a
-- tsvector built with the 'simple' configuration (no stemming, no stop words: the terms are
-- already normalised) and stripped of positions. It is filled by a catch-up indexer
-- (inbox/search_index.py) that follows conversations.updated_at; search_progress keeps its mark.

CREATE TABLE conversation_tags (
    conversation_id  text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     text NOT NULL,
    tag              text NOT NULL,
    created_by       text,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);

CREATE INDEX conversation_tags_tag ON conversation_tags (workspace_id, tag);

CREATE TABLE conversation_search (
    doc              bigserial UNIQUE,
    conversation_id  text PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     text NOT NULL,
    indexed_seq      integer NOT NULL DEFAULT 0,
    -- the intents of the customer's messages, space-separated with a space at each end
    intents          text NOT NULL DEFAULT ' ',
    document         tsvector NOT NULL DEFAULT ''::tsvector,  -- the transcript's terms
    -- the customer's name, email and id and the contact form's email (findable even when
    -- those columns are encrypted)
    people           tsvector NOT NULL DEFAULT ''::tsvector,
    updated_at       timestamptz NOT NULL
);

CREATE INDEX conversation_search_document ON conversation_search USING gin (document);
CREATE INDEX conversation_search_people ON conversation_search USING gin (people);

CREATE TABLE search_progress (
    name  text PRIMARY KEY,
    mark  timestamptz NOT NULL
);

-- The indexer's catch-up reads conversations changed since its mark, in every workspace.
CREATE INDEX conversations_updated ON conversations (updated_at);
-- The history's "agent" filter: who held or resolved a conversation.
CREATE INDEX inbox_conversations_resolved_by ON inbox_conversations (resolved_by);

-- Routing by skill and language (inbox/routing.py): what an agent can handle ("billing",
-- "returns") and the languages they answer in ("en", "de"); empty: no restriction.
ALTER TABLE inbox_agents ADD COLUMN skills jsonb NOT NULL DEFAULT '[]';
ALTER TABLE inbox_agents ADD COLUMN languages jsonb NOT NULL DEFAULT '[]';

-- Customer memory (inbox/memory.py): each finished conversation of a verified customer,
-- summarised extractively and embedded. The summary is not stored as text: it names the
-- messages it is made of (read, and opened when encrypted, like any message), so erasure
-- and retention, which delete conversations and customers, take memories with them.
CREATE TABLE customer_memories (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    customer_id      TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    message_ids      jsonb NOT NULL,
    vector           jsonb NOT NULL,
    created_at       timestamptz NOT NULL
);

CREATE INDEX customer_memories_customer ON customer_memories (customer_id, created_at);
