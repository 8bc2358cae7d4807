-- Macros (issue 16; inbox/macros.py): an admin's recipe of steps an agent runs in one go (a
-- business action through the workspace's flows.yaml actions, a reply, tags, a status), and
-- each run, keyed by the run id the client chose, so a double click runs a macro once.
-- A run keeps what each step did (outcomes, errors, the reply's message id), never the
-- business API's data about the customer.

CREATE TABLE inbox_macros (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    name          text NOT NULL,
    title         text NOT NULL,
    steps         text NOT NULL,           -- JSON: role, action, reply, tags, status
    created_by    text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE inbox_macro_runs (
    conversation_id  text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    run_id           text NOT NULL,
    workspace_id     text NOT NULL,
    macro_id         text NOT NULL,
    staff_id         text NOT NULL,
    state            text NOT NULL CHECK (state IN ('running', 'done', 'failed', 'partial')),
    result           text NOT NULL DEFAULT '{}',   -- JSON: the steps' outcomes
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    PRIMARY KEY (conversation_id, run_id)
);
