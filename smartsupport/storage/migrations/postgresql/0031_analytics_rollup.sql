-- Analytics rollup (issue 15, docs/analytics.md "Scale"): one row of facts per conversation,
-- so the report sums rows in SQL instead of reading every turn.
--
-- analytics_changes: the change counter of each conversation. Triggers on every table the
-- facts are read from raise ``changed`` in the same transaction as the write (a turn, an
-- agent reply, a handoff, an inbox change, a rating, an erasure), so no writer has to know
-- about analytics. ``analytics_rollup.catch_up`` recomputes the conversations whose
-- ``changed`` is ahead of ``rolled`` and sets ``rolled`` to the counter it read; the report
-- runs it first, so it never reads a stale row.
--
-- analytics_rollup and its three detail tables hold what ``analytics_facts`` computes: the
-- conversation's counts and flags, times in integer milliseconds (microseconds since the
-- epoch for instants, so the re-contact window is plain integer arithmetic), the LLM cost in
-- billionths (summed exactly); the per-turn (intent x confidence), unanswered-question and
-- article rows carry the conversation's filter columns so the report reads them without a
-- join. Every row goes with its conversation (ON DELETE CASCADE: erasure, retention purge).

CREATE TABLE analytics_changes (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    changed          INTEGER NOT NULL,
    rolled           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX analytics_changes_due ON analytics_changes (workspace_id) WHERE changed > rolled;

CREATE TABLE analytics_rollup (
    conversation_id          TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id             TEXT NOT NULL,
    customer_id              TEXT NOT NULL,
    created_us               BIGINT NOT NULL,
    last_us                  BIGINT NOT NULL,
    day                      TEXT NOT NULL,
    channel                  TEXT NOT NULL,
    language                 TEXT NOT NULL,
    intent                   TEXT,
    status                   TEXT NOT NULL,
    customer_messages        INTEGER NOT NULL,
    answered_turns           INTEGER NOT NULL,
    fallback_turns           INTEGER NOT NULL,
    out_of_scope_turns       INTEGER NOT NULL,
    bot_answers              INTEGER NOT NULL,
    escalated                INTEGER NOT NULL,
    escalation_reason        TEXT,
    agent_replied            INTEGER NOT NULL,
    abandoned                INTEGER NOT NULL,
    thumbs_up                INTEGER NOT NULL,
    thumbs_down              INTEGER NOT NULL,
    agent_flags              INTEGER NOT NULL,
    csat                     INTEGER,
    resolvable               INTEGER NOT NULL,
    first_response_bot_ms    BIGINT,
    first_response_human_ms  BIGINT,
    resolution_ms            BIGINT,
    handle_ms                BIGINT,
    settled_ms               BIGINT NOT NULL,
    llm_input_tokens         BIGINT NOT NULL,
    llm_output_tokens        BIGINT NOT NULL,
    llm_cost                 DOUBLE PRECISION NOT NULL,
    llm_cost_nanos           BIGINT NOT NULL
);
CREATE INDEX analytics_rollup_range ON analytics_rollup (workspace_id, created_us, conversation_id);
CREATE INDEX analytics_rollup_customer ON analytics_rollup (customer_id, created_us);

CREATE TABLE analytics_rollup_turns (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    label            TEXT NOT NULL,
    bucket           INTEGER NOT NULL,
    turns            INTEGER NOT NULL,
    first_turn       INTEGER NOT NULL,
    workspace_id     TEXT NOT NULL,
    created_us       BIGINT NOT NULL,
    channel          TEXT NOT NULL,
    language         TEXT NOT NULL,
    intent           TEXT,
    PRIMARY KEY (conversation_id, label, bucket)
);
CREATE INDEX analytics_rollup_turns_range ON analytics_rollup_turns (workspace_id, created_us);

CREATE TABLE analytics_rollup_questions (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    turn             INTEGER NOT NULL,
    question         TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    workspace_id     TEXT NOT NULL,
    created_us       BIGINT NOT NULL,
    channel          TEXT NOT NULL,
    language         TEXT NOT NULL,
    intent           TEXT,
    PRIMARY KEY (conversation_id, turn)
);
CREATE INDEX analytics_rollup_questions_range
    ON analytics_rollup_questions (workspace_id, created_us);

CREATE TABLE analytics_rollup_articles (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    article_id       TEXT NOT NULL,
    title            TEXT NOT NULL,
    answers          INTEGER NOT NULL,
    up               INTEGER NOT NULL,
    down             INTEGER NOT NULL,
    workspace_id     TEXT NOT NULL,
    created_us       BIGINT NOT NULL,
    channel          TEXT NOT NULL,
    language         TEXT NOT NULL,
    intent           TEXT,
    PRIMARY KEY (conversation_id, article_id)
);
CREATE INDEX analytics_rollup_articles_range
    ON analytics_rollup_articles (workspace_id, created_us);

-- Every existing conversation is due: the worker (or the first report) backfills them.
INSERT INTO analytics_changes (conversation_id, workspace_id, changed, rolled)
    SELECT id, workspace_id, 1, 0 FROM conversations;

-- One trigger function for every table the facts are read from: the conversation's counter
-- goes up in the writer's own transaction.
CREATE FUNCTION analytics_touch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target TEXT;
BEGIN
    IF TG_TABLE_NAME = 'conversations' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO analytics_changes (conversation_id, workspace_id, changed, rolled)
                VALUES (NEW.id, NEW.workspace_id, 1, 0)
                ON CONFLICT (conversation_id) DO UPDATE
                SET changed = analytics_changes.changed + 1;
            RETURN NULL;
        END IF;
        target := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        target := OLD.conversation_id;
    ELSE
        target := NEW.conversation_id;
    END IF;
    UPDATE analytics_changes SET changed = changed + 1 WHERE conversation_id = target;
    RETURN NULL;
END
$$;

CREATE TRIGGER analytics_conversation_insert AFTER INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION analytics_touch();
CREATE TRIGGER analytics_conversation_update
    AFTER UPDATE OF customer_id, channel, status, metadata, created_at ON conversations
    FOR EACH ROW EXECUTE FUNCTION analytics_touch();
CREATE TRIGGER analytics_message_change AFTER INSERT OR UPDATE OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION analytics_touch();
CREATE TRIGGER analytics_status_insert AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.type = 'conversation.status' AND NEW.conversation_id IS NOT NULL)
    EXECUTE FUNCTION analytics_touch();
CREATE TRIGGER analytics_status_delete AFTER DELETE ON events
    FOR EACH ROW WHEN (OLD.type = 'conversation.status' AND OLD.conversation_id IS NOT NULL)
    EXECUTE FUNCTION analytics_touch();
CREATE TRIGGER analytics_inbox_change AFTER INSERT OR DELETE ON inbox_conversations
    FOR EACH ROW EXECUTE FUNCTION analytics_touch();
CREATE TRIGGER analytics_inbox_update
    AFTER UPDATE OF assigned_at, resolved_at, csat_rating ON inbox_conversations
    FOR EACH ROW EXECUTE FUNCTION analytics_touch();
CREATE TRIGGER analytics_feedback_change AFTER INSERT OR UPDATE OR DELETE ON answer_feedback
    FOR EACH ROW EXECUTE FUNCTION analytics_touch();
