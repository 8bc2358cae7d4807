-- Daily sums of settled days (issue 15, docs/analytics.md "Scale: daily sums"): a long
-- range reads a few hundred pre-summed rows instead of every conversation in it.
--
-- analytics_days: one row per workspace and UTC day that has rollup rows. ``window_us`` and
-- ``decided_us`` are set when the day's sums are stored (``analytics_daily.settle``): the
-- re-contact window they were computed with, and the latest "last message + window" of the
-- day's conversations. A report uses a day's sums only for the same window and at or after
-- ``decided_us`` (every conversation of the day decided, as when they were summed); any
-- other day is read from the per-conversation rows.
--
-- The three sum tables hold, per day and filter values (channel, language, topic), what the
-- report sums from the rollup: the GROUP BY of ``analytics_daily.GROUP_SQL``, the heatmap's
-- cells and the articles' counts, each with its earliest conversation start (the raw
-- report's first-seen order).
--
-- Invalidation is here, in the writer's transaction: any rollup row written or deleted (a
-- late CSAT or thumb, an import, an erasure or retention purge: ON DELETE CASCADE fires the
-- delete trigger) or any next contact that changes (a customer's new or erased conversation,
-- migration 0032's trigger) clears the day's ``window_us``, so the report stops using its
-- sums at once and the worker sums it again. Stale sum rows of a cleared day are never read
-- and are replaced when it is summed again.

CREATE TABLE analytics_days (
    workspace_id  TEXT NOT NULL,
    day           TEXT NOT NULL,
    window_us     BIGINT,
    decided_us    BIGINT,
    PRIMARY KEY (workspace_id, day)
);

CREATE TABLE analytics_daily (
    workspace_id             TEXT NOT NULL,
    day                      TEXT NOT NULL,
    channel                  TEXT NOT NULL,
    language                 TEXT NOT NULL,
    intent                   TEXT,
    conversations            INTEGER NOT NULL,
    engaged                  INTEGER NOT NULL,
    evaluated                INTEGER NOT NULL,
    automated_resolutions    INTEGER NOT NULL,
    pending                  INTEGER NOT NULL,
    contained                INTEGER NOT NULL,
    escalated                INTEGER NOT NULL,
    abandoned                INTEGER NOT NULL,
    turns                    INTEGER NOT NULL,
    fallback_turns           INTEGER NOT NULL,
    out_of_scope_turns       INTEGER NOT NULL,
    bot_answers              INTEGER NOT NULL,
    thumbs_up                INTEGER NOT NULL,
    thumbs_down              INTEGER NOT NULL,
    agent_flags              INTEGER NOT NULL,
    csat_ratings             INTEGER NOT NULL,
    csat_sum                 INTEGER NOT NULL,
    csat_1                   INTEGER NOT NULL,
    csat_2                   INTEGER NOT NULL,
    csat_3                   INTEGER NOT NULL,
    csat_4                   INTEGER NOT NULL,
    csat_5                   INTEGER NOT NULL,
    llm_input_tokens         BIGINT NOT NULL,
    llm_output_tokens        BIGINT NOT NULL,
    llm_cost_nanos           BIGINT NOT NULL,
    first_response_bot_n     INTEGER NOT NULL,
    first_response_bot_ms    BIGINT NOT NULL,
    first_response_human_n   INTEGER NOT NULL,
    first_response_human_ms  BIGINT NOT NULL,
    time_to_resolution_n     INTEGER NOT NULL,
    time_to_resolution_ms    BIGINT NOT NULL,
    agent_handle_time_n      INTEGER NOT NULL,
    agent_handle_time_ms     BIGINT NOT NULL
);
CREATE INDEX analytics_daily_day ON analytics_daily (workspace_id, day);

CREATE TABLE analytics_daily_turns (
    workspace_id  TEXT NOT NULL,
    day           TEXT NOT NULL,
    channel       TEXT NOT NULL,
    language      TEXT NOT NULL,
    intent        TEXT,
    label         TEXT NOT NULL,
    bucket        INTEGER NOT NULL,
    turns         INTEGER NOT NULL,
    first_us      BIGINT NOT NULL
);
CREATE INDEX analytics_daily_turns_day ON analytics_daily_turns (workspace_id, day)
    INCLUDE (channel, language, intent, label, bucket, turns, first_us);

CREATE TABLE analytics_daily_articles (
    workspace_id  TEXT NOT NULL,
    day           TEXT NOT NULL,
    channel       TEXT NOT NULL,
    language      TEXT NOT NULL,
    intent        TEXT,
    article_id    TEXT NOT NULL,
    answers       INTEGER NOT NULL,
    up            INTEGER NOT NULL,
    down          INTEGER NOT NULL,
    first_us      BIGINT NOT NULL
);
CREATE INDEX analytics_daily_articles_day ON analytics_daily_articles (workspace_id, day)
    INCLUDE (channel, language, intent, article_id, answers, up, down, first_us);

-- The percentiles, not summed, are read from the rollup rows of the whole range: this index
-- holds every column they read, so that scan reads only the index (docs/benchmarks.md,
-- "Analytics dashboard"); the sum tables' indexes hold the columns the report sums.
CREATE INDEX analytics_rollup_timings ON analytics_rollup (workspace_id, created_us)
    INCLUDE (channel, language, intent, resolvable, next_us, last_us, settled_ms, resolution_ms,
             first_response_bot_ms, first_response_human_ms, handle_ms);

-- The days that already have rollup rows, to be summed by the worker.
INSERT INTO analytics_days (workspace_id, day) SELECT DISTINCT workspace_id, day FROM analytics_rollup;

-- The day of a rollup row written, deleted or given another next contact is summed again.
-- Only the worker's summing (``analytics_daily.settle``) sets ``window_us``, under a SHARE
-- lock on analytics_rollup, so no rollup write can land between its read and its commit.
CREATE FUNCTION analytics_daily_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_days (workspace_id, day) VALUES (NEW.workspace_id, NEW.day)
            ON CONFLICT (workspace_id, day) DO NOTHING;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.next_us IS NOT DISTINCT FROM NEW.next_us
       AND OLD.day = NEW.day THEN
        RETURN NULL;
    END IF;
    -- Only a summed day's row is updated (and so locked): writers of today's
    -- conversations never queue on one row.
    IF TG_OP <> 'INSERT' THEN
        UPDATE analytics_days SET window_us = NULL, decided_us = NULL
            WHERE workspace_id = OLD.workspace_id AND day = OLD.day AND window_us IS NOT NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE analytics_days SET window_us = NULL, decided_us = NULL
            WHERE workspace_id = NEW.workspace_id AND day = NEW.day AND window_us IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER analytics_daily_change AFTER INSERT OR DELETE OR UPDATE ON analytics_rollup
    FOR EACH ROW EXECUTE FUNCTION analytics_daily_touch();
