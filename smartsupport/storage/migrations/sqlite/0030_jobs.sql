-- Background jobs (issue 17; jobs.py): knowledge ingestion and retraining, asked for by a
-- request or at start-up and run by whichever process leases them (a worker, or the server
-- on the embedded default). ``idempotency_key`` is unique, so asking twice gives the same
-- job. ``status`` is queued, running, done or failed; a running job's lease
-- (``locked_until``) is renewed while it runs, so a killed worker's job is queued again
-- once the lease has passed. Rows are kept: they are the history the status URL shows.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    kind             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    payload          JSON NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    progress         JSON,
    result           JSON,
    error            TEXT,
    requested_by     TEXT,
    locked_until     TIMESTAMPTZ,
    locked_by        TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX jobs_due ON jobs (status, created_at);
CREATE INDEX jobs_workspace ON jobs (workspace_id, created_at);
