-- Privacy: the tamper-evident audit log of staff and admin actions, and customers' consent.
--
-- audit_log is append-only: each entry's hash covers its fields and the previous entry's
-- hash (smartsupport/audit.py), so a changed or removed entry breaks the chain that
-- ``smartsupport audit verify`` checks. The trigger refuses UPDATE and DELETE through the
-- application's own role; a database superuser can still write, which is what the chain
-- detects. Entries hold ids and counts, never personal data (a customer's erasure leaves
-- its tombstone here). ``details`` is canonical JSON text, hashed as stored.

CREATE TABLE audit_log (
    seq           bigint PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    workspace_id  text,
    actor         text NOT NULL,               -- staff:<id>, api_key:<id>, cli, system
    action        text NOT NULL,               -- staff.login, customer.erased, ...
    target        text,                        -- staff:<id>, api_key:<id>, customer:<id>
    customer_id   text,                        -- set when the entry concerns a customer
    ip            text,
    details       text NOT NULL,
    prev_hash     text NOT NULL,
    hash          text NOT NULL
);

CREATE INDEX audit_log_workspace ON audit_log (workspace_id, seq);
CREATE INDEX audit_log_customer ON audit_log (customer_id) WHERE customer_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- What a customer agreed to in the widget: the consent text's version and hash, the
-- language it was shown in, and whether they chose to be answered by people only.
CREATE TABLE consents (
    id               text PRIMARY KEY,
    workspace_id     text NOT NULL,
    customer_id      text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    conversation_id  text REFERENCES conversations (id) ON DELETE CASCADE,
    version          text NOT NULL,
    text_sha256      text NOT NULL,
    language         text NOT NULL,
    people_only      boolean NOT NULL DEFAULT FALSE,
    created_at       timestamptz NOT NULL
);

CREATE INDEX consents_customer ON consents (customer_id, created_at);
CREATE INDEX consents_conversation ON consents (conversation_id);
