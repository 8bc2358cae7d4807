-- The customer's next contact in each rollup row (issue 15, docs/analytics.md "Scale"): the
-- start of the customer's earliest later conversation on the same topic or an unknown one.
-- A conversation is re-contacted when that start falls within the workspace's window after
-- its last message, so the report compares two integers instead of searching the customer's
-- other conversations for every row. ``analytics_rollup._write`` sets it for every row of the
-- customers whose conversations it rolls up; deleting a conversation (erasure, retention)
-- sets it again for the customer's remaining rows here.

ALTER TABLE analytics_rollup ADD COLUMN next_us BIGINT;

UPDATE analytics_rollup r SET next_us = (
    SELECT MIN(o.created_us) FROM analytics_rollup o
    WHERE o.customer_id = r.customer_id
      AND o.conversation_id <> r.conversation_id
      AND o.created_us > r.created_us
      AND (r.intent IS NULL OR o.intent IS NULL OR o.intent = r.intent));

CREATE FUNCTION analytics_next_contact_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE analytics_rollup r SET next_us = (
        SELECT MIN(o.created_us) FROM analytics_rollup o
        WHERE o.customer_id = r.customer_id
          AND o.conversation_id <> r.conversation_id
          AND o.conversation_id <> OLD.id
          AND o.created_us > r.created_us
          AND (r.intent IS NULL OR o.intent IS NULL OR o.intent = r.intent))
    WHERE r.customer_id = OLD.customer_id AND r.conversation_id <> OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER analytics_conversation_delete AFTER DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION analytics_next_contact_reset();

-- The report's sums over the detail tables read only the index (measured over 1,000,000
-- turns: docs/benchmarks.md, "Analytics dashboard"): each range index also holds the columns
-- summed, and escalated conversations, a fifth of the rows, have their own index.
DROP INDEX analytics_rollup_turns_range;
CREATE INDEX analytics_rollup_turns_range ON analytics_rollup_turns (workspace_id, created_us) INCLUDE (label, bucket, turns);
DROP INDEX analytics_rollup_questions_range;
CREATE INDEX analytics_rollup_questions_range ON analytics_rollup_questions (workspace_id, created_us) INCLUDE (question);
DROP INDEX analytics_rollup_articles_range;
CREATE INDEX analytics_rollup_articles_range ON analytics_rollup_articles (workspace_id, created_us) INCLUDE (article_id, answers, up, down);
CREATE INDEX analytics_rollup_escalations ON analytics_rollup (workspace_id, created_us) INCLUDE (escalation_reason)
    WHERE escalation_reason IS NOT NULL;
