-- Staff accounts (agents, supervisors, admins), their workspaces, login sessions with
-- rotating refresh tokens, and API keys for server-to-server calls.
--
-- Nothing secret is stored in a form that can be replayed: passwords are argon2id hashes,
-- refresh tokens and API keys are SHA-256 hashes of high-entropy random strings, and the
-- TOTP secret is encrypted with a key derived from the server secret.
-- Workspace ids are not foreign keys: the CLI may add staff before the server has loaded
-- the workspace configuration into the database.

CREATE TABLE staff_users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,         -- lower-cased
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    password_hash   TEXT NOT NULL,
    totp_secret     TEXT,                         -- encrypted; set at enrolment
    totp_enabled    BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step  INTEGER NOT NULL DEFAULT 0,   -- replay protection: steps <= this are spent
    failed_logins   INTEGER NOT NULL DEFAULT 0,   -- consecutive failures
    locked_until    TIMESTAMPTZ,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE staff_workspaces (
    staff_id      TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL,
    PRIMARY KEY (staff_id, workspace_id)
);

CREATE INDEX staff_workspaces_workspace ON staff_workspaces (workspace_id);

CREATE TABLE staff_sessions (
    id            TEXT PRIMARY KEY,
    staff_id      TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,           -- inactivity timeout counts from here
    expires_at    TIMESTAMPTZ NOT NULL,           -- absolute end, whatever the activity
    revoked_at    TIMESTAMPTZ,
    revoked_why   TEXT,
    client_ip     TEXT,
    user_agent    TEXT
);

CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Every refresh token ever issued for a session. A token is used once; presenting a used
-- one again means it was stolen (or raced), so the whole session is revoked.
CREATE TABLE staff_refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES staff_sessions (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);

CREATE INDEX staff_refresh_tokens_session ON staff_refresh_tokens (session_id);

CREATE TABLE staff_api_keys (
    id            TEXT PRIMARY KEY,
    prefix        TEXT NOT NULL UNIQUE,           -- the public part of sk_<prefix>_<secret>
    key_hash      TEXT NOT NULL,
    name          TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    scopes        JSON NOT NULL DEFAULT '[]',
    created_by    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);

CREATE INDEX staff_api_keys_workspace ON staff_api_keys (workspace_id);
