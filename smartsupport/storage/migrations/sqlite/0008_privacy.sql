-- Privacy: the tamper-evident audit log of staff and admin actions, and customers' consent.
--
-- audit_log is append-only: each entry's hash covers its fields and the previous entry's
-- hash (smartsupport/audit.py), so a changed or removed entry breaks the chain that
-- ``smartsupport audit verify`` checks. The triggers refuse UPDATE and DELETE through the
-- application's own connection; someone with direct file access can still write, which is
-- what the chain detects. Entries hold ids and counts, never personal data (a customer's
-- erasure leaves its tombstone here). ``details`` is canonical JSON text, hashed as stored.

CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY,
    created_at    TIMESTAMPTZ NOT NULL,
    workspace_id  TEXT,
    actor         TEXT NOT NULL,               -- staff:<id>, api_key:<id>, cli, system
    action        TEXT NOT NULL,               -- staff.login, customer.erased, ...
    target        TEXT,                        -- staff:<id>, api_key:<id>, customer:<id>
    customer_id   TEXT,                        -- set when the entry concerns a customer
    ip            TEXT,
    details       TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);

CREATE INDEX audit_log_workspace ON audit_log (workspace_id, seq);
CREATE INDEX audit_log_customer ON audit_log (customer_id) WHERE customer_id IS NOT NULL;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- What a customer agreed to in the widget: the consent text's version and hash, the
-- language it was shown in, and whether they chose to be answered by people only.
CREATE TABLE consents (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    customer_id      TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    conversation_id  TEXT REFERENCES conversations (id) ON DELETE CASCADE,
    version          TEXT NOT NULL,
    text_sha256      TEXT NOT NULL,
    language         TEXT NOT NULL,
    people_only      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX consents_customer ON consents (customer_id, created_at);
CREATE INDEX consents_conversation ON consents (conversation_id);
