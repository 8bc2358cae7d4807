-- A/B tests of flows (issue 15 item 6, docs/review.md "Experiments"): an experiment tests
-- either the wording of an intent's response or which flow the intent starts. A flow
-- variant names its flow in the variants' JSON ({"name", "flow", "weight"}).

ALTER TABLE experiments ADD COLUMN kind TEXT NOT NULL DEFAULT 'response'
    CHECK (kind IN ('response', 'flow'));
