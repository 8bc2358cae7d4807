-- The conversation's analytics counter (0031) goes up when one of the columns the facts read
-- changes value, not whenever a statement names it: every turn's write sets ``status`` and
-- ``metadata`` (to themselves when the turn changes neither), which fired the trigger on
-- every turn, an UPDATE of analytics_changes beside the one the turn's messages already make
-- (docs/benchmarks.md, "Stop 36").
DROP TRIGGER analytics_conversation_update ON conversations;
CREATE TRIGGER analytics_conversation_update
    AFTER UPDATE OF customer_id, channel, status, metadata, created_at ON conversations
    FOR EACH ROW WHEN (
        OLD.customer_id IS DISTINCT FROM NEW.customer_id
        OR OLD.channel IS DISTINCT FROM NEW.channel
        OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.metadata IS DISTINCT FROM NEW.metadata
        OR OLD.created_at IS DISTINCT FROM NEW.created_at
    )
    EXECUTE FUNCTION analytics_touch();
