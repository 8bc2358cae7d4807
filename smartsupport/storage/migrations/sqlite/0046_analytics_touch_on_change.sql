-- The conversation's analytics counter (0031) goes up when one of the columns the facts read
-- changes value, not whenever a statement names it: every turn's write sets ``status`` (to
-- itself when the turn leaves it), which fired the trigger on every turn, an UPDATE of
-- analytics_changes beside the one the turn's messages already make.
DROP TRIGGER analytics_conversation_update;
CREATE TRIGGER analytics_conversation_update
    AFTER UPDATE OF customer_id, channel, status, metadata, created_at ON conversations
    WHEN OLD.customer_id IS NOT NEW.customer_id
        OR OLD.channel IS NOT NEW.channel
        OR OLD.status IS NOT NEW.status
        OR OLD.metadata IS NOT NEW.metadata
        OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE analytics_changes SET changed = changed + 1 WHERE conversation_id = NEW.id;
END;
