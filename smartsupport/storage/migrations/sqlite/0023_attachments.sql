-- Attachments (smartsupport/attachments/, smartsupport/attachment_records.py): files that
-- customers and agents send (widget uploads, voice notes, email and channel media). The bytes
-- live in the attachment store (a directory on disk by default), keyed by content hash per
-- workspace so the same file is stored once; these rows say which message lists which file.
-- A conversation's rows go with it (erasure, retention); the file is deleted once no row
-- names its key any more.
CREATE TABLE attachments (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id       TEXT,
    source           TEXT NOT NULL,
    filename         TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    kind             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    sha256           TEXT NOT NULL,
    storage_key      TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX attachments_conversation ON attachments (conversation_id);
CREATE INDEX attachments_storage_key ON attachments (storage_key);
