-- Daily sums per slice (issue 15, docs/analytics.md "Scale: daily sums"): what does not add
-- up per channel x language x topic, stored per settled day for every conversation (slice
-- '') and for each single filter value ('channel:web', 'language:de', 'intent:shipping'), so
-- a long range reads a few rows per day (``analytics_slices``):
--
-- analytics_daily_timings: how many values of each timing fall in each histogram bucket
-- (integer milliseconds: exact below 32 ms, then 16 buckets per power of two). The report
-- locates the bucket of each percentile's rank from these counts, then reads the exact
-- values of that bucket alone from the rollup rows.
--
-- analytics_daily_questions: each unanswered question's count (by its hash) and its
-- earliest conversation start (the raw report's first-seen order for ties).
--
-- Both are written with the other daily sums (``analytics_daily.settle``) and read only for
-- the days ``analytics_days`` marks summed, so the triggers of 0036 invalidate them too. A
-- question's hash also changes when the index key rotates (``reindex.py`` rewrites it): the
-- trigger below clears that day. Every summed day is cleared here, so the worker sums them
-- again with these tables; until then reports read those days from the rollup rows.

CREATE TABLE analytics_daily_timings (
    workspace_id  TEXT NOT NULL,
    day           TEXT NOT NULL,
    slice         TEXT NOT NULL,
    timing        TEXT NOT NULL,
    bucket        INTEGER NOT NULL,
    n             INTEGER NOT NULL
);
CREATE INDEX analytics_daily_timings_day
    ON analytics_daily_timings (workspace_id, day, slice, timing, bucket, n);

CREATE TABLE analytics_daily_questions (
    workspace_id  TEXT NOT NULL,
    day           TEXT NOT NULL,
    slice         TEXT NOT NULL,
    question      TEXT NOT NULL,
    n             INTEGER NOT NULL,
    first_us      INTEGER NOT NULL
);
CREATE INDEX analytics_daily_questions_day
    ON analytics_daily_questions (workspace_id, day, slice, question, n, first_us);

CREATE TRIGGER analytics_daily_question_update AFTER UPDATE OF question ON analytics_rollup_questions
    WHEN OLD.question IS NOT NEW.question BEGIN
    UPDATE analytics_days SET window_us = NULL, decided_us = NULL
        WHERE workspace_id = NEW.workspace_id AND window_us IS NOT NULL
          AND day = (SELECT day FROM analytics_rollup WHERE conversation_id = NEW.conversation_id);
END;

UPDATE analytics_days SET window_us = NULL, decided_us = NULL WHERE window_us IS NOT NULL;
