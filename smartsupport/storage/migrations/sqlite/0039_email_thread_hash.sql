-- The email channel's thread index sealed (issue 14; channels/email_state.py,
-- storage/fields.py). email_threads.message_id (a Message-ID, which often names the sender's
-- host or address) may now hold sealed text, which differs at every write, so rows are found
-- and kept unique by message_hash instead: the keyed hash of the Message-ID (HMAC-SHA256
-- under the keyring's index key), or, without a keyring, the Message-ID itself (then it is in
-- clear anyway). Existing rows keep their Message-ID as their key until `smartsupport keys
-- reencrypt` seals them. SQLite cannot change a primary key in place: the table is rebuilt.
CREATE TABLE email_threads_0039 (
    workspace_id     TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    direction        TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    message_hash     TEXT NOT NULL,
    PRIMARY KEY (workspace_id, message_hash)
);

INSERT INTO email_threads_0039 (workspace_id, message_id, conversation_id, direction,
    created_at, message_hash)
SELECT workspace_id, message_id, conversation_id, direction, created_at, message_id
FROM email_threads;

DROP TABLE email_threads;
ALTER TABLE email_threads_0039 RENAME TO email_threads;
CREATE INDEX email_threads_conversation ON email_threads (conversation_id);
