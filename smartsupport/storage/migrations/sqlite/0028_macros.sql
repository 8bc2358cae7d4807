-- Macros (issue 16; inbox/macros.py): an admin's recipe of steps an agent runs in one go (a
-- business action through the workspace's flows.yaml actions, a reply, tags, a status), and
-- each run, keyed by the run id the client chose, so a double click runs a macro once.
-- A run keeps what each step did (outcomes, errors, the reply's message id), never the
-- business API's data about the customer.

CREATE TABLE inbox_macros (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    name          TEXT NOT NULL,
    title         TEXT NOT NULL,
    steps         TEXT NOT NULL,           -- JSON: role, action, reply, tags, status
    created_by    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE inbox_macro_runs (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    run_id           TEXT NOT NULL,
    workspace_id     TEXT NOT NULL,
    macro_id         TEXT NOT NULL,
    staff_id         TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'partial')),
    result           TEXT NOT NULL DEFAULT '{}',   -- JSON: the steps' outcomes
    created_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    PRIMARY KEY (conversation_id, run_id)
);
