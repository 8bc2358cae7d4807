-- Spent signed identities (identity.verify_once): a token is refused a second time until it
-- would have expired anyway. Kept in the database, not in process memory or Redis, so a
-- restart forgets nothing (issue 14). Only a hash of the token's MAC is stored.
CREATE TABLE identity_replays (
    token_hash  TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL  -- Unix seconds; rows past it are deleted on the next use
);
CREATE INDEX identity_replays_expiry ON identity_replays (expires_at);
