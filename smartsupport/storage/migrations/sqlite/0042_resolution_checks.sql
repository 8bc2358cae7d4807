-- The LLM check of automated resolutions and reviewers' verdicts on them (issue 15,
-- docs/analytics.md "The LLM check of automated resolutions").
--
-- resolution_checks: one row per conversation counted as an automated resolution that a
-- language model has read (resolution_checks.py, a leased background job). `last_us` is the
-- conversation's last message (the rollup's, microseconds since the epoch) when it was read:
-- a conversation written in afterwards is read again, and the report only counts a verdict
-- whose `last_us` is the rollup's now. `verdict` is the model's strict JSON answer, or
-- 'invalid' when its reply was not that JSON (kept, so it is reported, never guessed at).
-- `reason` is the model's short reason, sealed when field encryption is on (it is written
-- about the customer). The tokens and cost of the call are kept here, in billionths of the
-- configured currency like the rollup's costs, so they sum exactly.
--
-- resolution_reviews: a supervisor's or admin's own verdict on a conversation, for the
-- agreement of the LLM check with human review (PUT .../resolution-review).
--
-- Both go with their conversation when it is erased or purged (ON DELETE CASCADE).
CREATE TABLE resolution_checks (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    last_us          INTEGER NOT NULL,
    verdict          TEXT NOT NULL
                     CHECK (verdict IN ('resolved', 'not_resolved', 'unclear', 'invalid')),
    reason           TEXT,
    step             TEXT NOT NULL,
    model            TEXT NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    cost_nanos       INTEGER NOT NULL,
    sent_chars       INTEGER NOT NULL,
    checked_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX resolution_checks_workspace ON resolution_checks (workspace_id, checked_at);

CREATE TABLE resolution_reviews (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    verdict          TEXT NOT NULL CHECK (verdict IN ('resolved', 'not_resolved')),
    reason           TEXT,
    staff_id         TEXT,
    reviewed_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX resolution_reviews_workspace ON resolution_reviews (workspace_id, reviewed_at);
