-- The improvement loop (issue 15): the review queue's decisions, the intent models retrained
-- from them, suggestions bootstrapped from past tickets, A/B experiments on responses and the
-- shadow runs of a candidate intent model. Staff ids are not foreign keys (like the inbox's).

-- A reviewer's decision about one misunderstood customer message (or one example accepted
-- from an import, message_id 'import:...'). Re-deciding a message replaces the decision.
CREATE TABLE review_decisions (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    message_id    TEXT NOT NULL,
    text          TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('assign', 'new_intent', 'needs_article', 'dismiss')),
    intent        TEXT,
    -- 1: kept out of training, part of the test set every candidate model is scored on.
    held_out      INTEGER NOT NULL DEFAULT 0,
    decided_by    TEXT,
    decided_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, message_id)
);

-- Every retrained model: deployed, rejected by the evaluation (reason says why), run in
-- shadow, or retired by a later one. path: the model directory under the models cache.
CREATE TABLE review_models (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    status        TEXT NOT NULL CHECK (status IN ('deployed', 'rejected', 'shadow', 'retired')),
    model_hash    TEXT NOT NULL,
    path          TEXT NOT NULL,
    examples      INTEGER NOT NULL,
    evaluation    JSON NOT NULL DEFAULT '{}',
    reason        TEXT NOT NULL,
    created_by    TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX review_models_workspace ON review_models (workspace_id, created_at);

-- Suggested intents and FAQ entries from an imported history of tickets or chats.
CREATE TABLE review_suggestions (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    source        TEXT NOT NULL,           -- the imported file's name and format
    kind          TEXT NOT NULL CHECK (kind IN ('intent', 'faq')),
    name          TEXT NOT NULL,           -- the suggested intent name, or the FAQ question
    answer        TEXT,                    -- FAQ: the answer agents gave most centrally
    examples      JSON NOT NULL,           -- {"text": the questions as JSON, maybe sealed}
    size          INTEGER NOT NULL,        -- tickets or conversations in the cluster
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
    decided_by    TEXT,
    decided_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX review_suggestions_workspace ON review_suggestions (workspace_id, status, size);

-- A/B tests of an intent's response. variants: [{"name", "text", "weight"}]; the first is
-- the control. A conversation keeps its variant (a hash of experiment and conversation ids);
-- exposures are 'experiment.exposure' events recorded with the turn.
CREATE TABLE experiments (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    intent        TEXT NOT NULL,
    variants      JSON NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'promoted')),
    winner        TEXT,
    created_by    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ
);
-- One live experiment (running or promoted) per intent.
CREATE UNIQUE INDEX experiments_live_intent
    ON experiments (workspace_id, intent) WHERE status IN ('running', 'promoted');

-- What a shadow model said about a live turn, next to what the live model said.
CREATE TABLE shadow_results (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    model_id       TEXT NOT NULL REFERENCES review_models (id) ON DELETE CASCADE,
    message_id     TEXT NOT NULL,
    text           TEXT NOT NULL,
    live_intent    TEXT,                   -- NULL: out of scope
    shadow_intent  TEXT,
    agree          INTEGER NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX shadow_results_model ON shadow_results (model_id, created_at);
